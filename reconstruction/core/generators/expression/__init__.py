"""Expression: an exemplar-guided conditional image-to-image GAN on aligned face crops ([0053]).

The face is aligned to a canonical crop by a similarity transform on the two eye centres. The
model keeps the user's own aligned training faces with their degrees ([0054]: the data used in
training is held with the model). To change a face it takes the stored face nearest the target
degrees (and the source's head pose) as an exemplar. A U-Net generator takes the source crop, the
exemplar crop and the source and target degrees (smile, eye openness, mouth openness) and
predicts two dense backward flows (one moving the source, one moving the exemplar onto the
source's geometry), a per-pixel share of the exemplar, and a residual. Teeth, a closed eyelid or
cheek folds come from the user's real face rather than being painted at the network's
resolution; the flows put them where this face is.

A PatchGAN discriminator judges (crop, target degrees). Losses: L1 to a real frame of the user
with the target degrees (pairs of the user's own frames; the exemplar is never that frame),
identity L1 when source = target, adversarial, degree consistency through a small degree
regressor trained first on the same crops with the extractor's labels, and both flows at the
target frame's landmarks pointing at the source's and the exemplar's same landmarks.
Generation asks only for degree combinations the user has shown (``complete``). Everything is
applied at the frame's resolution inside the face (the source's own pixels moved, the exemplar
sampled from its stored larger crop) and blended with a soft face mask, so nothing outside the
face changes.
"""

from .config import ExpressionConfig
from .faces import ELEMENTS, alignment, eye_band, face_degrees, face_pose
from .model import ExpressionModel

__all__ = ["ELEMENTS", "ExpressionConfig", "ExpressionModel", "alignment", "eye_band", "face_degrees", "face_pose"]
