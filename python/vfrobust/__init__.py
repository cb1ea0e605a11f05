"""vfrobust from Python: the library's perturbations, robustness metrics, models and study
results, with NumPy arrays and PIL images in and out (docs/python.md).

    import vfrobust
    vfrobust.ops()                                   # the perturbation catalog
    out = vfrobust.perturb(img, "jpeg:50", seed=0)   # the bytes `vfrobust perturb` writes
    p = vfrobust.Perturbation("gaussian_blur:0..3", levels=10)
    r_cs, r_ed, dr = vfrobust.robustness(clean, perturbed)   # (N, d), (N, m, d)
    m = vfrobust.Model("models/clip-vit-tiny-patch4-cifar10"); m.embed(images)
    s = vfrobust.Study("out/demo"); s.metric("dr", "jpeg")
    rows = vfrobust.perturb_set("images/", "variants/", ops="jpeg,gaussian_blur", levels=5)
    vfrobust.score("variants/manifest.csv", my_model(rows), "study/")   # any model's embeddings

Every failure raises vfrobust.Error with the library's one-line message.
"""
from vfrobust._error import Error
from vfrobust._lib import lib_path
from vfrobust.byo import perturb_set, read_manifest, score
from vfrobust.metrics import Robustness, divergence_radius, minimum_enclosing_ball, robustness
from vfrobust.model import Model
from vfrobust.perturbations import Perturbation, ops, perturb
from vfrobust.study import Study

__version__ = "0.1.0"


def library_version():
    """The version of the loaded libvfrobust."""
    from vfrobust import _lib
    return _lib.lib().vfr_version().decode()


__all__ = ["Error", "Model", "Perturbation", "Robustness", "Study", "divergence_radius",
           "library_version", "lib_path", "minimum_enclosing_ball", "ops", "perturb",
           "perturb_set", "read_manifest", "robustness", "score"]
