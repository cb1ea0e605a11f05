/* Synthetic RGB-D scenes: a seeded ray caster (vfr_scene_render in include/vfrobust/depth.h).
 *
 * World: y up, the camera at the origin of its own frame looking along +z. The room is the
 * box [-rw/2, rw/2] x [0, rh] x [-1, rd] around the camera (x right, y up, z forward);
 * boxes stand on the floor, spheres rest on it or float. Rays are d = R (u, v, 1) with
 * (u, v) the pixel centre on the image plane at focal length f, so the ray parameter t
 * of a hit is its depth along the optical axis. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vfrobust/depth.h"

#define MAX_BOXES 5
#define MAX_SPHERES 3

typedef struct rng {
  uint64_t s;
} rng;

static uint64_t next_u64(rng *r) { /* splitmix64 */
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static double uniform(rng *r, double lo, double hi) { return lo + (hi - lo) * ((next_u64(r) >> 11) * 0x1.0p-53); }

typedef struct vec3 {
  double x, y, z;
} vec3;

static vec3 v3(double x, double y, double z) { return (vec3){x, y, z}; }
static vec3 add(vec3 a, vec3 b) { return v3(a.x + b.x, a.y + b.y, a.z + b.z); }
static vec3 sub(vec3 a, vec3 b) { return v3(a.x - b.x, a.y - b.y, a.z - b.z); }
static vec3 mul(vec3 a, double s) { return v3(a.x * s, a.y * s, a.z * s); }
static double dot(vec3 a, vec3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }

/* One textured surface property: which texture, how many metres one tile spans. */
typedef struct material {
  int texture;
  double tile;
} material;

typedef struct box {
  vec3 lo, hi;
  material m;
} box;

typedef struct sphere {
  vec3 c;
  double r;
  material m;
} sphere;

typedef struct scene {
  double rw, rh, rd;  /* room width, height, depth (z from -1 to rd) */
  vec3 eye;           /* camera position */
  double yaw, pitch;  /* radians */
  material walls[6];  /* floor, ceiling, left, right, back, front */
  box boxes[MAX_BOXES];
  int nbox;
  sphere spheres[MAX_SPHERES];
  int nsphere;
  vec3 light;
} scene;

typedef struct hit {
  double t;
  vec3 n;       /* unit normal facing the ray */
  double u, v;  /* surface coordinates in metres */
  material m;
} hit;

static void make_scene(scene *s, uint64_t seed, int textures) {
  rng r = {seed * 0x2545F4914F6CDD1DULL + 0x1234567ULL};
  memset(s, 0, sizeof *s);
  s->rw = uniform(&r, 4.0, 6.0);
  s->rh = uniform(&r, 2.5, 3.0);
  s->rd = uniform(&r, 5.0, 8.0);
  s->eye = v3(uniform(&r, -0.4, 0.4) * s->rw / 2, uniform(&r, 1.2, 1.7), 0);
  s->yaw = uniform(&r, -0.15, 0.15);
  s->pitch = uniform(&r, -0.1, 0.05);
  for (int k = 0; k < 6; k++) s->walls[k] = (material){(int)(next_u64(&r) % (uint64_t)textures), uniform(&r, 0.6, 1.6)};
  s->nbox = 1 + (int)(next_u64(&r) % 4);
  for (int k = 0; k < s->nbox; k++) {
    double w = uniform(&r, 0.4, 1.4), h = uniform(&r, 0.3, 1.6), d = uniform(&r, 0.4, 1.2);
    double cx = uniform(&r, -s->rw / 2 + w / 2, s->rw / 2 - w / 2), cz = uniform(&r, 1.5, s->rd - d / 2 - 0.1);
    s->boxes[k].lo = v3(cx - w / 2, 0, cz - d / 2);
    s->boxes[k].hi = v3(cx + w / 2, h, cz + d / 2);
    s->boxes[k].m = (material){(int)(next_u64(&r) % (uint64_t)textures), uniform(&r, 0.3, 0.9)};
  }
  s->nsphere = 1 + (int)(next_u64(&r) % 3);
  for (int k = 0; k < s->nsphere; k++) {
    double rad = uniform(&r, 0.2, 0.6);
    double y = next_u64(&r) % 2 ? rad : uniform(&r, rad + 0.2, s->rh - rad - 0.1);
    s->spheres[k].c = v3(uniform(&r, -s->rw / 2 + rad, s->rw / 2 - rad), y, uniform(&r, 1.5, s->rd - rad - 0.1));
    s->spheres[k].r = rad;
    s->spheres[k].m = (material){(int)(next_u64(&r) % (uint64_t)textures), uniform(&r, 0.2, 0.6)};
  }
  s->light = v3(uniform(&r, -1, 1), s->rh - 0.05, uniform(&r, 1.0, s->rd * 0.6));
}

/* The nearest hit of o + t d (t > 1e-6), with a surface coordinate system per face. */
static int trace(const scene *s, vec3 o, vec3 d, hit *h) {
  memset(h, 0, sizeof *h);
  h->t = INFINITY;
  /* Room: six inward-facing planes; a ray from inside always leaves through one. */
  const double planes[6] = {0, s->rh, -s->rw / 2, s->rw / 2, s->rd, -1};
  for (int k = 0; k < 6; k++) {
    double od = k < 2 ? o.y : k < 4 ? o.x : o.z, dd = k < 2 ? d.y : k < 4 ? d.x : d.z;
    if (fabs(dd) < 1e-12) continue;
    double t = (planes[k] - od) / dd;
    if (!(t > 1e-6) || t >= h->t) continue;
    vec3 p = add(o, mul(d, t));
    h->t = t;
    h->m = s->walls[k];
    if (k < 2) {
      h->n = v3(0, k == 0 ? 1 : -1, 0);
      h->u = p.x, h->v = p.z;
    } else if (k < 4) {
      h->n = v3(k == 2 ? 1 : -1, 0, 0);
      h->u = p.z, h->v = p.y;
    } else {
      h->n = v3(0, 0, k == 4 ? -1 : 1);
      h->u = p.x, h->v = p.y;
    }
  }
  for (int b = 0; b < s->nbox; b++) { /* slabs */
    const box *bx = &s->boxes[b];
    double t0 = -INFINITY, t1 = INFINITY;
    int axis = -1;
    const double lo[3] = {bx->lo.x, bx->lo.y, bx->lo.z}, hi[3] = {bx->hi.x, bx->hi.y, bx->hi.z};
    const double oo[3] = {o.x, o.y, o.z}, dd[3] = {d.x, d.y, d.z};
    int ok = 1;
    for (int a = 0; a < 3 && ok; a++) {
      if (fabs(dd[a]) < 1e-12) {
        ok = oo[a] >= lo[a] && oo[a] <= hi[a];
        continue;
      }
      double ta = (lo[a] - oo[a]) / dd[a], tb = (hi[a] - oo[a]) / dd[a];
      if (ta > tb) {
        double x = ta;
        ta = tb;
        tb = x;
      }
      if (ta > t0) {
        t0 = ta;
        axis = a;
      }
      if (tb < t1) t1 = tb;
      ok = t0 <= t1;
    }
    if (!ok || axis < 0 || !(t0 > 1e-6) || t0 >= h->t) continue;
    vec3 p = add(o, mul(d, t0));
    h->t = t0;
    h->m = bx->m;
    const double sign = dd[axis] > 0 ? -1 : 1;
    if (axis == 0) h->n = v3(sign, 0, 0), h->u = p.z, h->v = p.y;
    else if (axis == 1) h->n = v3(0, sign, 0), h->u = p.x, h->v = p.z;
    else h->n = v3(0, 0, sign), h->u = p.x, h->v = p.y;
  }
  for (int k = 0; k < s->nsphere; k++) {
    const sphere *sp = &s->spheres[k];
    vec3 oc = sub(o, sp->c);
    double a = dot(d, d), hb = dot(oc, d), c = dot(oc, oc) - sp->r * sp->r;
    double disc = hb * hb - a * c;
    if (disc < 0) continue;
    double t = (-hb - sqrt(disc)) / a;
    if (!(t > 1e-6) || t >= h->t) continue;
    vec3 p = add(o, mul(d, t));
    h->t = t;
    h->m = sp->m;
    h->n = mul(sub(p, sp->c), 1.0 / sp->r);
    h->u = (atan2(h->n.z, h->n.x) + M_PI) * sp->r;
    h->v = acos(fmax(-1.0, fmin(1.0, h->n.y))) * sp->r;
  }
  return isfinite(h->t);
}

/* Bilinear, tiled: (u, v) in tiles. */
static void sample(const vfr_image *tex, double u, double v, double rgb[3]) {
  double x = (u - floor(u)) * tex->width - 0.5, y = (v - floor(v)) * tex->height - 0.5;
  int x0 = (int)floor(x), y0 = (int)floor(y);
  double fx = x - x0, fy = y - y0;
  for (int c = 0; c < 3; c++) rgb[c] = 0;
  for (int k = 0; k < 4; k++) {
    int xi = ((x0 + (k & 1)) % tex->width + tex->width) % tex->width;
    int yi = ((y0 + (k >> 1)) % tex->height + tex->height) % tex->height;
    double w = ((k & 1) ? fx : 1 - fx) * ((k >> 1) ? fy : 1 - fy);
    const uint8_t *p = tex->data + (size_t)yi * tex->stride + (size_t)xi * 3;
    for (int c = 0; c < 3; c++) rgb[c] += w * p[c];
  }
}

int vfr_scene_render(const vfr_image *textures, int texture_count, uint64_t seed, int width, int height,
                     vfr_image *rgb, vfr_depth_map *depth, vfr_error *err) {
  if (!textures || texture_count < 1) return vfr_fail(err, VFR_EINVAL, "scene: no texture given");
  for (int k = 0; k < texture_count; k++)
    if (textures[k].channels != 3 || textures[k].width < 1 || textures[k].height < 1)
      return vfr_fail(err, VFR_EINVAL, "scene: texture %d is not an RGB image", k);
  if (width < 8 || height < 8 || width > 4096 || height > 4096)
    return vfr_fail(err, VFR_EINVAL, "scene: size %dx%d (8 to 4096 pixels a side)", width, height);
  int rc = vfr_image_alloc(rgb, width, height, 3, err);
  if (rc) return rc;
  memset(depth, 0, sizeof *depth);
  depth->depth = malloc(sizeof(float) * (size_t)width * height);
  if (!depth->depth) {
    vfr_image_free(rgb);
    return vfr_fail(err, VFR_ENOMEM, "scene: out of memory");
  }
  depth->width = width;
  depth->height = height;
  scene s;
  make_scene(&s, seed, texture_count);
  const double f = 0.5 * width / tan(0.5 * 60.0 * M_PI / 180.0); /* 60 degrees across */
  const double cy = cos(s.yaw), sy = sin(s.yaw), cp = cos(s.pitch), sp = sin(s.pitch);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++) {
      double u = (x + 0.5 - 0.5 * width) / f, v = -(y + 0.5 - 0.5 * height) / f;
      /* pitch about x, then yaw about y: the camera's z stays the unit forward vector */
      vec3 c = v3(u, v * cp + sp, -v * sp + cp);
      vec3 d = v3(c.x * cy + c.z * sy, c.y, -c.x * sy + c.z * cy);
      hit h;
      double col[3] = {0, 0, 0};
      float z = 0;
      if (trace(&s, s.eye, d, &h)) {
        vec3 p = add(s.eye, mul(d, h.t));
        vec3 l = sub(s.light, p);
        double dist = sqrt(dot(l, l));
        double lambert = fmax(0.0, dot(h.n, mul(l, 1.0 / dist)));
        /* a light at the camera too (a flash: falls off with the distance), and haze */
        vec3 back = mul(d, -1.0 / sqrt(dot(d, d)));
        double flash = fmax(0.0, dot(h.n, back));
        double range = h.t * sqrt(dot(d, d));
        double shade = 0.15 + 0.5 * lambert / (1.0 + 0.08 * dist * dist) + 1.6 * flash / (1.0 + 0.12 * range * range);
        double haze = exp(-0.12 * range);
        sample(&textures[h.m.texture], h.u / h.m.tile, h.v / h.m.tile, col);
        for (int k = 0; k < 3; k++) col[k] = haze * col[k] * shade + (1 - haze) * 170.0;
        z = (float)h.t; /* |c.z| scaled: d = R (u, v, 1), so t is the depth along the axis */
      }
      uint8_t *o = rgb->data + (size_t)y * rgb->stride + (size_t)x * 3;
      for (int k = 0; k < 3; k++) o[k] = (uint8_t)fmin(255.0, fmax(0.0, floor(col[k] + 0.5)));
      depth->depth[(size_t)y * width + x] = z;
    }
  return VFR_OK;
}
