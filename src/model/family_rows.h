/* Shorthands for catalogue rows (family_*.c only). */
#ifndef VFR_MODEL_FAMILY_ROWS_H
#define VFR_MODEL_FAMILY_ROWS_H

#include "model/family.h"

/* top-level / per-block rows of 1..4 dimensions, existing always */
#define TOP1(n, f, a, ini) {n, f, 0, 1, {a}, FW_ALWAYS, 0, 0, 0, ini}
#define TOP2(n, f, a, b, ini) {n, f, 0, 2, {a, b}, FW_ALWAYS, 0, 0, 0, ini}
#define TOP3(n, f, a, b, c, ini) {n, f, 0, 3, {a, b, c}, FW_ALWAYS, 0, 0, 0, ini}
#define TOP4(n, f, a, b, c, d, ini) {n, f, 0, 4, {a, b, c, d}, FW_ALWAYS, 0, 0, 0, ini}
#define BLK1(n, f, a, ini) {n, f, 1, 1, {a}, FW_ALWAYS, 0, 0, 0, ini}
#define BLK2(n, f, a, b, ini) {n, f, 1, 2, {a, b}, FW_ALWAYS, 0, 0, 0, ini}
#define NROWS(t) ((int)(sizeof t / sizeof *t))

#endif
