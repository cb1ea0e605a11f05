"""ImageNet-C's blur, weather and geometric corruptions written from the published algorithm
(Hendrycks & Dietterich's definitions as imagecorruptions' corrupt() runs them) with Debian's
NumPy, SciPy, scikit-image and OpenCV; independent of the C code it checks.

REFERENCES maps each op name to f(x, severity, seed) -> uint8 array, x an (H, W, 3) uint8
array; the legacy global RandomState is seeded with np.random.seed(seed) first, as a user of
corrupt() would. Glass blur's pixel moves run the original ImageNet-C loop in NumPy (legacy
randint per pixel), since the numba-compiled loop of imagecorruptions draws from numba's own
generator, which np.random.seed does not reach.
"""
import math
import os

import cv2
import numpy as np
from scipy.ndimage import map_coordinates, zoom as nd_zoom
from skimage.filters import gaussian

FROST_DIR = os.environ.get(
    "VFROBUST_IC_DATA",
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "imagenet-c"))


def _out(y):
    """The reference's final conversion: np.uint8 of the clipped value times 255."""
    return np.uint8(np.clip(y, 0, 1) * 255)


def gaussian_blur(x, severity, seed):
    s = [1, 2, 3, 4, 6][severity - 1]
    return _out(gaussian(x / 255.0, sigma=s, channel_axis=-1))


def glass_blur(x, severity, seed):
    s, d, iterations = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)][severity - 1]
    np.random.seed(seed)
    y = np.uint8(gaussian(x / 255.0, sigma=s, channel_axis=-1) * 255)
    h, w = y.shape[:2]
    for _ in range(iterations):
        for i in range(h - d, d, -1):
            for j in range(w - d, d, -1):
                dx, dy = np.random.randint(-d, d, size=(2,))
                # the original statement, NumPy view semantics included
                y[i, j], y[i + dy, j + dx] = y[i + dy, j + dx], y[i, j]
    return _out(gaussian(y / 255.0, sigma=s, channel_axis=-1))


def _disk(radius, alias_blur):
    side = 8 if radius <= 8 else radius
    grid = np.arange(-side, side + 1)
    xx, yy = np.meshgrid(grid, grid)
    k = np.array((xx ** 2 + yy ** 2) <= radius ** 2, dtype=np.float32)
    k /= np.sum(k)
    ks = (3, 3) if radius <= 8 else (5, 5)
    return cv2.GaussianBlur(k, ksize=ks, sigmaX=alias_blur)


def defocus_blur(x, severity, seed):
    r, a = [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)][severity - 1]
    u = x / 255.0
    k = _disk(r, a)
    planes = [cv2.filter2D(u[:, :, c], -1, k) for c in range(3)]
    return _out(np.stack(planes, axis=-1))


def _motion_blur(x, radius, sigma, angle):
    width = 2 * radius + 1
    taps = np.arange(width)
    k = np.exp(-taps ** 2 / (2 * (sigma ** 2))) / (np.sqrt(2 * np.pi) * sigma)
    k = k / np.sum(k)
    py = width * np.sin(np.deg2rad(angle))
    px = width * np.cos(np.deg2rad(angle))
    hyp = math.hypot(py, px)
    acc = np.zeros_like(x, dtype=np.float32)
    h, w = x.shape[:2]
    for i in range(width):
        dy = -math.ceil(((i * py) / hyp) - 0.5)
        dx = -math.ceil(((i * px) / hyp) - 0.5)
        if abs(dy) >= h or abs(dx) >= w:
            break
        # shift by (dy, dx), the uncovered border repeating the edge row/column
        rows = np.clip(np.arange(h) - dy, 0, h - 1)
        cols = np.clip(np.arange(w) - dx, 0, w - 1)
        acc = acc + k[i] * x[rows][:, cols]
    return acc


def motion_blur(x, severity, seed):
    r, s = [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)][severity - 1]
    np.random.seed(seed)
    angle = np.random.uniform(-45, 45)
    return np.uint8(np.clip(_motion_blur(x, r, s, angle), 0, 255))


def _clipped_zoom(img, z):
    h, w = img.shape[:2]
    ch, cw = int(np.ceil(h / float(z))), int(np.ceil(w / float(z)))
    top, left = (h - ch) // 2, (w - cw) // 2
    zoomed = nd_zoom(img[top:top + ch, left:left + cw], (z, z, 1), order=1)
    return zoomed


def zoom_blur(x, severity, seed):
    zs = [np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.02),
          np.arange(1, 1.26, 0.02), np.arange(1, 1.31, 0.03)][severity - 1]
    u = (x / 255.0).astype(np.float32)
    acc = np.zeros_like(u)
    h, w = u.shape[:2]
    for z in zs:
        acc += _clipped_zoom(u, z)[:h, :w, :]
    return _out((u + acc) / (len(zs) + 1))


def _plasma(n, decay):
    """Diamond-square heightmap on an n x n torus (n a power of two), float32, the random
    perturbations drawn as np.random.uniform arrays, squares then the two diamond sets."""
    m = np.empty((n, n), dtype=np.float32)
    m[0, 0] = 0
    amp = 100
    step = n
    while step >= 2:
        half = step // 2
        corners = m[0:n:step, 0:n:step]
        sq = corners + np.roll(corners, -1, axis=0)
        sq += np.roll(sq, -1, axis=1)
        m[half:n:step, half:n:step] = sq / 4 + amp * np.random.uniform(-amp, amp, sq.shape)
        centres = m[half:n:step, half:n:step]
        corners = m[0:n:step, 0:n:step]
        left = (centres + np.roll(centres, 1, axis=0)) + (corners + np.roll(corners, -1, axis=1))
        m[0:n:step, half:n:step] = left / 4 + amp * np.random.uniform(-amp, amp, left.shape)
        top = (centres + np.roll(centres, 1, axis=1)) + (corners + np.roll(corners, -1, axis=0))
        m[half:n:step, 0:n:step] = top / 4 + amp * np.random.uniform(-amp, amp, top.shape)
        step //= 2
        amp /= decay
    m -= m.min()
    return m / m.max()


def fog(x, severity, seed):
    c0, c1 = [(1.5, 2), (2., 2), (2.5, 1.7), (2.5, 1.5), (3., 1.4)][severity - 1]
    np.random.seed(seed)
    side = int(max(x.shape))
    n = 1 << (side - 1).bit_length()
    u = x / 255.0
    top = u.max()
    h, w = x.shape[:2]
    u += c0 * _plasma(n, c1)[:h, :w][..., np.newaxis]
    return _out(u * top / (top + c0))


def elastic_transform(x, severity, seed):
    alpha = 250 * [0.05, 0.065, 0.085, 0.1, 0.12][severity - 1]
    np.random.seed(seed)
    u = np.array(x, dtype=np.float32) / 255.
    h, w = u.shape[:2]
    sigma = np.array([h, w]) * 0.01
    m = h * 0.005
    fields = []
    for _ in range(2):
        f = gaussian(np.random.uniform(-m, m, size=(h, w)), sigma, mode="reflect", truncate=3)
        fields.append((f * alpha).astype(np.float32))
    dx, dy = fields
    rows, cols, chans = np.meshgrid(np.arange(h), np.arange(w), np.arange(3), indexing="ij")
    coords = [(rows + dy[..., None]).ravel(), (cols + dx[..., None]).ravel(), chans.ravel()]
    y = map_coordinates(u, coords, order=1, mode="reflect").reshape(u.shape)
    return np.uint8(np.clip(y, 0, 1) * 255)


def frost(x, severity, seed):
    c0, c1 = [(1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)][severity - 1]
    np.random.seed(seed)
    idx = np.random.randint(5)
    names = ["frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg"]
    overlay = cv2.imread(os.path.join(FROST_DIR, "frost", names[idx]))  # BGR
    fh, fw = overlay.shape[:2]
    h, w = x.shape[:2]
    if fh >= h and fw >= w:
        scale = 1
    elif fh < h and fw >= w:
        scale = h / fh
    elif fh >= h and fw < w:
        scale = w / fw
    else:
        scale = np.maximum(h / fh, w / fw)
    scale *= 1.1
    size = (int(np.ceil(fw * scale)), int(np.ceil(fh * scale)))
    overlay = cv2.resize(overlay, dsize=size, interpolation=cv2.INTER_CUBIC)
    top = np.random.randint(0, overlay.shape[0] - h)
    left = np.random.randint(0, overlay.shape[1] - w)
    crop = overlay[top:top + h, left:left + w][..., ::-1]
    return np.uint8(np.clip(c0 * x + c1 * crop, 0, 255))


def snow(x, severity, seed):
    c = [(0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
         (0.55, 0.3, 4, 0.9, 12, 8, 0.7), (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
         (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55)][severity - 1]
    np.random.seed(seed)
    u = np.array(x, dtype=np.float32) / 255.
    h, w = u.shape[:2]
    layer = np.random.normal(size=(h, w), loc=c[0], scale=c[1])
    layer = _clipped_zoom(layer[..., np.newaxis], c[2])[..., 0]
    layer = np.where(layer < c[3], 0, layer)
    layer = np.clip(layer, 0, 1)
    layer = _motion_blur(layer, c[4], c[5], np.random.uniform(-135, -45))
    layer = (np.round(layer * 255).astype(np.uint8) / 255.)[:h, :w, np.newaxis]
    gray = cv2.cvtColor(u, cv2.COLOR_RGB2GRAY)[..., np.newaxis]
    u = c[6] * u + (1 - c[6]) * np.maximum(u, gray * 1.5 + 0.5)
    return _out(u + layer + layer[::-1, ::-1])


def spatter(x, severity, seed):
    c = [(0.65, 0.3, 4, 0.69, 0.6, 0), (0.65, 0.3, 3, 0.68, 0.6, 0), (0.65, 0.3, 2, 0.68, 0.5, 0),
         (0.65, 0.3, 1, 0.65, 1.5, 1), (0.67, 0.4, 1, 0.65, 1.5, 1)][severity - 1]
    np.random.seed(seed)
    u = np.array(x, dtype=np.float32) / 255.
    liquid = gaussian(np.random.normal(size=u.shape[:2], loc=c[0], scale=c[1]), sigma=c[2])
    liquid[liquid < c[3]] = 0
    if c[5] == 0:  # water
        lu = (liquid * 255).astype(np.uint8)
        d = cv2.distanceTransform(255 - cv2.Canny(lu, 50, 150), cv2.DIST_L2, 5)
        d = np.minimum(d, np.float32(20))
        d = cv2.equalizeHist(cv2.blur(d, (3, 3)).astype(np.uint8))
        d = cv2.filter2D(d, cv2.CV_8U, np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]))
        d = cv2.blur(d, (3, 3)).astype(np.float32)
        m = lu * d
        m = m / m.max() * np.float32(c[4])
        tint = np.array([175 / 255., 238 / 255., 238 / 255.], dtype=np.float32)
        y = np.clip(u + m[..., None] * tint, 0, 1) * 255
        return np.uint8(np.nan_to_num(y, nan=0.0))
    m = gaussian((liquid > c[3]).astype(np.float32), sigma=c[4])
    m[m < 0.8] = 0
    brown = np.array([63 / 255., 42 / 255., 20 / 255.]) * m[..., None]
    return _out(u * (1 - m[..., None]) + brown)


REFERENCES = {
    "ic_glass_blur": glass_blur,
    "ic_defocus_blur": defocus_blur,
    "ic_motion_blur": motion_blur,
    "ic_zoom_blur": zoom_blur,
    "ic_gaussian_blur": gaussian_blur,
    "ic_snow": snow,
    "ic_fog": fog,
    "ic_frost": frost,
    "ic_elastic_transform": elastic_transform,
    "ic_spatter": spatter,
}
