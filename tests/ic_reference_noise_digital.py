"""ImageNet-C's noise and digital corruptions written from the published algorithm
(Hendrycks & Dietterich's definitions as imagecorruptions' corrupt() runs them) with
Debian's NumPy, scikit-image and Pillow; independent of the C code it checks.

REFERENCES maps each op name to f(x, severity, seed) -> uint8 array, x an (H, W, 3) uint8
array: the legacy global RandomState is seeded with np.random.seed(seed) first, as a user
of corrupt() would; impulse noise passes the seed to skimage's random_noise.
"""
from io import BytesIO

import numpy as np
from PIL import Image
from skimage.color import hsv2rgb, rgb2hsv
from skimage.util import random_noise


def _out(y):
    """The reference's final conversion: np.uint8 of the clipped value times 255."""
    return np.uint8(np.clip(y, 0, 1) * 255)


def gaussian_noise(x, severity, seed):
    sd = [0.08, 0.12, 0.18, 0.26, 0.38][severity - 1]
    np.random.seed(seed)
    u = x / 255.0
    return _out(u + np.random.normal(scale=sd, size=u.shape))


def shot_noise(x, severity, seed):
    rate = [60, 25, 12, 5, 3][severity - 1]
    np.random.seed(seed)
    u = x / 255.0
    return _out(np.random.poisson(u * rate) / float(rate))


def impulse_noise(x, severity, seed):
    amount = [0.03, 0.06, 0.09, 0.17, 0.27][severity - 1]
    np.random.seed(seed)
    return _out(random_noise(x / 255.0, mode="s&p", amount=amount, seed=seed))


def speckle_noise(x, severity, seed):
    sd = [0.15, 0.2, 0.35, 0.45, 0.6][severity - 1]
    np.random.seed(seed)
    u = x / 255.0
    return _out(u + u * np.random.normal(scale=sd, size=u.shape))


def brightness(x, severity, seed):
    shift = [0.1, 0.2, 0.3, 0.4, 0.5][severity - 1]
    hsv = rgb2hsv(x / 255.0)
    hsv[..., 2] = np.clip(hsv[..., 2] + shift, 0, 1)
    return _out(hsv2rgb(hsv))


def saturate(x, severity, seed):
    gain, offset = [(0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)][severity - 1]
    hsv = rgb2hsv(x / 255.0)
    hsv[..., 1] = np.clip(hsv[..., 1] * gain + offset, 0, 1)
    return _out(hsv2rgb(hsv))


def contrast(x, severity, seed):
    k = [0.4, 0.3, 0.2, 0.1, 0.05][severity - 1]
    u = x / 255.0
    m = u.mean(axis=(0, 1), keepdims=True)
    return _out((u - m) * k + m)


def jpeg_compression(x, severity, seed):
    q = [25, 18, 15, 10, 7][severity - 1]
    buf = BytesIO()
    Image.fromarray(x).save(buf, "JPEG", quality=q)
    return np.uint8(np.array(Image.open(buf)))


def pixelate(x, severity, seed):
    f = [0.6, 0.5, 0.4, 0.3, 0.25][severity - 1]
    h, w = x.shape[:2]
    small = Image.fromarray(x).resize((int(w * f), int(h * f)), Image.BOX)
    return np.uint8(np.array(small.resize((w, h), Image.NEAREST)))


REFERENCES = {
    "ic_gaussian_noise": gaussian_noise,
    "ic_shot_noise": shot_noise,
    "ic_impulse_noise": impulse_noise,
    "ic_speckle_noise": speckle_noise,
    "ic_brightness": brightness,
    "ic_contrast": contrast,
    "ic_saturate": saturate,
    "ic_jpeg_compression": jpeg_compression,
    "ic_pixelate": pixelate,
}
