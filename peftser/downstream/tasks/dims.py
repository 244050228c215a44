"""The attribute tasks of the paper's corpora that ship ratings: each its categorical sibling's
reader and speaker-independent trainings, with the corpus' arousal, valence and dominance means
as targets (``tasks.attributes``). CREMA-D has no such ratings."""

from __future__ import annotations

from peftser.downstream.tasks.attributes import Attributes
from peftser.downstream.tasks.iemocap import Iemocap
from peftser.downstream.tasks.msp_improv import MspImprov
from peftser.downstream.tasks.msp_podcast import MspPodcast
from peftser.registry import TASKS


@TASKS.register("iemocap_dims")
class IemocapDims(Attributes, Iemocap):
    """IEMOCAP's EmoEvaluation means [V, A, D] (1-5) of every rated turn; 5 session folds."""

    name = "iemocap_dims"
    scale = (1.0, 5.0)


@TASKS.register("msp_improv_dims")
class MspImprovDims(Attributes, MspImprov):
    """MSP-Improv's consensus A:, V:, D: means (1-5); 6 session folds."""

    name = "msp_improv_dims"
    scale = (1.0, 5.0)


@TASKS.register("msp_podcast_dims")
class MspPodcastDims(Attributes, MspPodcast):
    """MSP-Podcast's EmoAct, EmoVal, EmoDom means (1-7); Train/Validation/Test1 x 3 seeds."""

    name = "msp_podcast_dims"
    scale = (1.0, 7.0)
