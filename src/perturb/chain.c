/* Applying a chain of levels, one op after another. */
#include "core/splitmix.h"
#include "perturb/perturb_internal.h"

/* The seed of step i > 0: SplitMix64's finaliser of seed + i, so that two noise steps in
 * one chain draw unrelated noise. */
static uint64_t step_seed(uint64_t seed, int i) {
  if (i == 0) return seed;
  return vfr_splitmix_mix(seed + (uint64_t)i);
}

int vfr_perturb_apply(const vfr_image *in, const vfr_chain *chain, uint64_t seed,
                      vfr_image *out, vfr_error *err) {
  int rc = perturb_check_rgb(in, out, "perturb", err);
  if (rc) return rc;
  if (!chain || chain->n < 0 || chain->n > VFR_CHAIN_MAX)
    return vfr_fail(err, VFR_EINVAL, "perturb: a chain has 0..%d steps", VFR_CHAIN_MAX);
  if (chain->n == 0) return vfr_image_copy(in, out, err);
  vfr_image cur = {0};
  for (int i = 0; i < chain->n; i++) {
    vfr_image next = {0};
    const vfr_level *s = &chain->steps[i];
    rc = vfr_op_apply(s->op, i == 0 ? in : &cur, s->value, step_seed(seed, i), &next, err);
    vfr_image_free(&cur);
    if (rc) return rc;
    cur = next;
  }
  *out = cur;
  return VFR_OK;
}
