"""What a corpus declares about its synthetic twin, beside its reader: the twin's speakers, clips
per speaker and the writer of its layout (``Corpus.twin``).

The synthetic package (``tasks/synthetic``) does the rest for every corpus that declares one: it
synthesises the clips, has the writer lay them out with their label files as the corpus does, and
registers ``synthetic_<name>``, the corpus' own reader reading them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from peftser.downstream.task import EMOTIONS

if TYPE_CHECKING:
    from peftser.downstream.tasks.synthetic.layouts import CorpusFiles, Recording


@dataclass(frozen=True)
class Twin:
    """A corpus' synthetic twin: its speakers (id, gender), clips per speaker and layout writer.

    The writer is given every clip (``Recording``: speaker, gender, index, emotion, wave and
    attribute ratings) and writes the corpus' files through ``CorpusFiles.wav`` and ``.text``; a
    change to what it writes must bump ``synthetic.lifecycle.GENERATOR_VERSION``.
    """

    speakers: tuple[tuple[str, str], ...]
    per_speaker: int
    write: Callable[[CorpusFiles, list[Recording]], None]
    # Path patterns of the files older generator versions wrote, so that such a corpus whose marker
    # predates the list of files is still recognised file by file (and replaced).
    legacy: tuple[str, ...] = ()
    # Class attributes the twin's reader takes instead of the corpus' (a fixed list of actors to
    # fold over becomes the twin's own).
    overrides: dict[str, Any] = field(default_factory=dict)

    def emotion(self, speaker_index: int, clip_index: int) -> str:
        """Emotions rotate within and across speakers, so every class is (nearly) equally common."""
        return EMOTIONS[(clip_index + speaker_index) % len(EMOTIONS)]

    def total(self) -> int:
        """Clips in the corpus."""
        return len(self.speakers) * self.per_speaker

    def counts(self) -> dict[str, int]:
        """Clips per class."""
        counts = dict.fromkeys(EMOTIONS, 0)
        for s in range(len(self.speakers)):
            for i in range(self.per_speaker):
                counts[self.emotion(s, i)] += 1
        return counts


def alternating(ids: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """Speakers ``ids``, female and male in turn."""
    return tuple((s, ("female", "male")[i % 2]) for i, s in enumerate(ids))
