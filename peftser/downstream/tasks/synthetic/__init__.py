"""A synthetic SER corpus, generated in numpy from a seed, so the harness runs with no corpus.

The four tasks are written to disk in the real corpora's layouts and label formats and read by
the real readers, so they share the real tasks' label parsing and fold rules.

- ``voice``: the speech synthesiser (speakers, emotional prosody, one clip);
- ``layouts``: each task's speakers and clips, and the writer of its corpus layout;
- ``lifecycle``: generating a corpus into the cache once, its marker, and replacing it safely;
- here: the four registered tasks, which generate their corpus on first use, and the attribute
  twins of three of them, which read the same generated corpora.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from peftser.downstream.tasks.attributes import Attributes
from peftser.downstream.tasks.crema_d import CremaD
from peftser.downstream.tasks.iemocap import Iemocap
from peftser.downstream.tasks.msp_improv import MspImprov
from peftser.downstream.tasks.msp_podcast import MspPodcast
from peftser.downstream.tasks.synthetic.layouts import (
    SHAPES,
    CorpusFiles,
    Recording,
    Shape,
    make_recordings,
    write_crema_d,
    write_iemocap,
    write_msp_improv,
    write_msp_podcast,
)
from peftser.downstream.tasks.synthetic.lifecycle import (
    GENERATOR_VERSION,
    LAYOUTS,
    MARKER,
    SEED,
    default_root,
    ensure_generated,
    generate,
    planned_files,
)
from peftser.downstream.tasks.synthetic.voice import (
    BANDWIDTHS,
    CLIP_QUANTUM_S,
    PROSODY,
    REFERENCE_RMS,
    VOWELS,
    Prosody,
    Voice,
    make_voice,
    synthesize,
)
from peftser.registry import TASKS

__all__ = [
    "BANDWIDTHS", "CLIP_QUANTUM_S", "GENERATOR_VERSION", "LAYOUTS", "MARKER", "PROSODY", "REFERENCE_RMS", "SEED",
    "SHAPES", "VOWELS", "CorpusFiles", "Prosody", "Recording", "Shape", "Synthetic", "SyntheticCremaD",
    "SyntheticIemocap", "SyntheticMspImprov", "SyntheticMspPodcast", "Voice", "default_root", "ensure_generated",
    "generate", "make_recordings", "make_voice", "planned_files", "synthesize", "write_crema_d", "write_iemocap",
    "write_msp_improv", "write_msp_podcast",
]


class Synthetic:
    """Mixin making a corpus reader generate its corpus on first use (no --data-root needed)."""

    generated: ClassVar[bool] = True
    name: ClassVar[str]
    corpus: ClassVar[str] = ""  # the generated corpus it reads, when not its own name (an attribute twin's)
    default_dir = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if getattr(cls, "kind", "categorical") == "categorical":
            # The expected counts are the generator's own, so they follow its shape of each corpus.
            cls.expected_total = SHAPES[cls.generated_name()].total()
            cls.expected_counts = SHAPES[cls.generated_name()].counts()

    @classmethod
    def generated_name(cls) -> str:
        """The name of the generated corpus this task reads."""
        return cls.corpus or cls.name

    def __init__(self, root: str | Path | None = None, *, strict: bool = False, **options):
        super().__init__(default_root(self.generated_name()) if root is None else root, strict=strict, **options)

    def load(self):
        ensure_generated(self.generated_name(), self.root)
        return super().load()


# In EmoBox's layout, read by the EmoBox route; looked up lazily (its metadata is written on first look-up).
TASKS.register("synthetic_emobox", "peftser.downstream.tasks.synthetic.emobox_twin:SyntheticEmoBox")


@TASKS.register("synthetic_iemocap")
class SyntheticIemocap(Synthetic, Iemocap):
    """IEMOCAP-shaped synthetic corpus: 5 sessions x 2 speakers, 5 session folds."""

    name = "synthetic_iemocap"


@TASKS.register("synthetic_msp_improv")
class SyntheticMspImprov(Synthetic, MspImprov):
    """MSP-IMPROV-shaped synthetic corpus: 6 sessions x 2 speakers, 6 session folds."""

    name = "synthetic_msp_improv"


@TASKS.register("synthetic_crema_d")
class SyntheticCremaD(Synthetic, CremaD):
    """CREMA-D-shaped synthetic corpus: 40 actors, the reference rule's 5 actor folds."""

    name = "synthetic_crema_d"
    actors = tuple(s for s, _ in SHAPES[name].speakers)


@TASKS.register("synthetic_msp_podcast")
class SyntheticMspPodcast(Synthetic, MspPodcast):
    """MSP-Podcast-shaped synthetic corpus: a fixed speaker-independent split x 3 seeds."""

    name = "synthetic_msp_podcast"


# The attribute twins read the same generated corpora (their label files carry the ratings).
@TASKS.register("synthetic_iemocap_dims")
class SyntheticIemocapDims(Synthetic, Attributes, Iemocap):
    """synthetic_iemocap's arousal, valence and dominance (1-5), its 5 session folds."""

    name = "synthetic_iemocap_dims"
    corpus = "synthetic_iemocap"


@TASKS.register("synthetic_msp_improv_dims")
class SyntheticMspImprovDims(Synthetic, Attributes, MspImprov):
    """synthetic_msp_improv's arousal, valence and dominance (1-5), its 6 session folds."""

    name = "synthetic_msp_improv_dims"
    corpus = "synthetic_msp_improv"


@TASKS.register("synthetic_msp_podcast_dims")
class SyntheticMspPodcastDims(Synthetic, Attributes, MspPodcast):
    """synthetic_msp_podcast's arousal, valence and dominance (1-7), its split x 3 seeds."""

    name = "synthetic_msp_podcast_dims"
    corpus = "synthetic_msp_podcast"
    scale = (1.0, 7.0)
