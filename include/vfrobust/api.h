/* VFR_API marks the functions libvfrobust.so exports. The library is compiled with
 * -fvisibility=hidden, so a function without it (anything under src/ that include/ does not
 * declare) stays internal, and every exported symbol starts with vfr_ (tests/ref_exports.py).
 * A function added to include/ needs VFR_API in front of its declaration. */
#ifndef VFROBUST_API_H
#define VFROBUST_API_H

#if defined(__GNUC__) || defined(__clang__)
#define VFR_API __attribute__((visibility("default")))
#else
#define VFR_API
#endif

#endif
