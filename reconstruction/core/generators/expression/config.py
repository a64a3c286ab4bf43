"""The expression model's settings. What each value was measured to do is in
docs/expression-model.md."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class ExpressionConfig:
    seed: int = 0  # random seed for initialisation and batches
    crop: int = 96  # side of the aligned face crop the networks see, pixels
    width: int = 16  # channels of the U-Net's first level (doubles per level)
    pose_neighbours: int = 12  # training targets are drawn from this many frames nearest in head pose
    feature_weight: float = 3.0  # extra L1 weight on the mouth and eyes
    steps: int = 120  # generator/discriminator updates when training from scratch
    regressor_steps: int = 60  # updates of the degree regressor before the GAN
    identity_fraction: float = 0.25  # share of each batch whose target is its own source (must come back unchanged)
    batch: int = 16  # pairs per update
    lr: float = 3e-3  # Adam learning rate of the generator and the regressor
    lr_d: float = 1e-3  # Adam learning rate of the discriminator
    l1_weight: float = 10.0  # pull toward the real frame that has the target degrees
    degree_weight: float = 0.1  # the low-pass regressor must read the target degrees
    adversarial_weight: float = 0.5  # realism, judged by the PatchGAN
    max_flow: float = 0.2  # largest displacement of the predicted flows, in half crop sides
    landmark_weight: float = 10.0  # the flow at the target's landmarks must point at the source's same landmarks
    eyelid_weight: float = 10.0  # extra landmark weight on the eyelids, times the pair's eye-openness gap / 0.3
    smooth_weight: float = 0.5  # total variation of the flows: no tearing between supervised landmarks
    single_fraction: float = 0.5  # share of pairs conditioned on one element's change only, as generation asks
    cross_fraction: float = 0.5  # share of each batch whose target differs clearly in degrees (the way back is learnt)
    finetune_steps: int = 24  # updates when fine-tuning from the previous version after feedback
    finetune_regressor_steps: int = 10  # regressor updates when fine-tuning
    bank_crop: int = 160  # side of the stored exemplar faces, pixels: pasted at this resolution
    bank_limit: int = 160  # most exemplar faces kept with the model: bounds the checkpoint
    exemplar_choices: int = 1  # training draws the exemplar among this many nearest by degree
    exemplar_prior: float = 2.0  # initial logit of the exemplar's share (2.0: 88 % exemplar)
    share_weight: float = 2.0  # pull the exemplar's share toward 1 where an element is asked to change
    exemplar_pose_weight: float = 0.5  # exemplar choice: weight of the head-pose gap against the degree gap
    exemplar_light_weight: float = 1.0  # exemplar choice: weight of the skin-lightness gap, per 50 L* units
    accepted_preference: float = 0.15  # an accepted reconstruction's face counts as this much nearer in degrees
    refuse_likeness: float = 0.3  # a rejected edit's face is refused for asks at least this alike
    pose_tolerance: float = (
        0.15  # an exemplar's yaw and pitch degrees may differ from the shot's by this much (18°, 13°)
    )
    gaze_tolerance: float = 0.35  # an exemplar lending its eyes may look elsewhere by this much (eyeLook units)
    recent_slack: float = 0.15  # a face from the seconds before the shutter wins unless farther by more than this
    lr_decay: bool = True  # cosine decay of both learning rates to zero over the GAN's updates
    device: str = "auto"  # "auto": CUDA when present, else CPU
