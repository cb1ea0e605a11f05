/* vfrobust eval: the study (models x images x ops x levels). With MPI (mpirun -n N), each
 * rank computes a shard of the images and rank 0 merges the results. */
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef VFR_HAVE_MPI
#include <mpi.h>
#endif

#include "cli/cli.h"
#include "cli/cli_gate.h"
#include "vfrobust/report.h"
#include "vfrobust/study.h"

static const char usage_text[] =
    "usage: vfrobust eval --model DIR --data DIR|FILE.csv --out DIR [options]\n"
    "\n"
    "Perturbs every image at every level of every op, embeds all variants, and writes\n"
    "per_image.csv, curves.csv, summary.json and embeddings/ into --out.\n"
    "\n"
    "  --ops LIST          comma-separated SPECs or a preset (editing9, imagenet-c,\n"
    "                      imagenet-c-all, all); default editing9\n"
    "  --levels M          levels per domain, evenly spaced, end points included (default 10)\n"
    "  --seed S            seed of the random ops (default 0)\n"
    "  --resume            keep the results of an earlier run for the images that are unchanged\n"
    "                      (same name, size and modification time) under the same settings;\n"
    "                      the others are computed afresh, and the counts are reported\n"
    "  --batch N           model batch size (default 32)\n"
    "  --threads N         threads (default: all cores)\n"
    "  --precision P       fp32 (default) or bf16: the transformer blocks' products (linear\n"
    "                      layers; with oneDNN also attention) on bf16 values with fp32\n"
    "                      accumulation (needs AVX-512), or auto: bf16\n"
    "                      where the CPU has AMX (faster there), else fp32\n"
    "  --limit N           use at most N images: a sample stratified by class, drawn with --seed\n"
    "  --per-class N       at most N per class (the first N; with --limit, the first of those)\n"
    "  --perturb-after-preprocess   perturb the model-sized crop instead of the loaded image\n"
    "  --max-dr OP=X,...   robustness gate: once the study is written, exit 3 when an op's\n"
    "                      mean DR is over its budget X (e.g. jpeg=0.1,gaussian_blur=0.2)\n"
    "\n"
    "Exit status: 0 success, 1 failure, 2 bad usage, 3 an op over its --max-dr budget.\n"
    "Under mpirun -n N, each rank computes every N-th image and rank 0 writes the outputs.\n";

typedef struct progress_state {
  int tty;
  double last;
  int rank, ranks;
  vfr_progress final; /* the last report */
} progress_state;

static double wall(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int show_progress(void *ctx, const vfr_progress *p) {
  progress_state *s = ctx;
  s->final = *p;
  double t = wall();
  int last = p->done == p->total;
  if (!s->tty && !last && t - s->last < 10.0) return 0; /* plain lines: every 10 s */
  if (s->tty && !last && t - s->last < 0.2) return 0;
  s->last = t;
  char eta[32] = "?";
  if (p->eta_s >= 0) snprintf(eta, sizeof eta, "%dm%02ds", (int)(p->eta_s / 60), (int)p->eta_s % 60);
  char who[32] = "";
  if (s->ranks > 1) snprintf(who, sizeof who, "[rank %d/%d] ", s->rank, s->ranks);
  fprintf(stderr, "%s%seval: %d/%d images (%d resumed, %d skipped), %.2f img/s, ETA %s%s", s->tty ? "\r" : "", who,
          p->done, p->total, p->resumed, p->skipped, p->rate, eta, s->tty ? "   " : "\n");
  if (s->tty && last) fputc('\n', stderr);
  return 0;
}

static int parse_int(const char *flag, const char *v, int lo, int hi, int *out) {
  char *end;
  long x = v ? strtol(v, &end, 10) : 0;
  if (!v || *end || end == v || x < lo || x > hi) {
    cli_errorf(flag, "expects an integer in %d..%d", lo, hi);
    return 0;
  }
  *out = (int)x;
  return 1;
}

int cli_eval(int argc, char **argv) {
  /* Image-sized buffers come and go once per variant: a fixed mmap threshold returns each to
   * the system when freed (glibc's adaptive one would keep them in the heap, and the peak
   * would then grow with the number of variants). */
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  vfr_eval_params p = vfr_eval_default_params();
  const char *max_dr = NULL;
  for (int i = 1; i < argc; i++) {
    const char *v = NULL, *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage_text, stdout);
      return CLI_OK;
    }
    if (!strcmp(a, "--resume")) { p.resume = 1; continue; }
    if (!strcmp(a, "--perturb-after-preprocess")) { p.perturb_after_preprocess = 1; continue; }
    static const char *const value_flags[] = {"--model", "--data", "--out", "--ops", "--levels", "--batch",
                                              "--threads", "--limit", "--per-class", "--seed", "--precision",
                                              "--max-dr", NULL};
    const char *flag = NULL;
    for (int k = 0; value_flags[k] && !flag; k++)
      if (cli_flag_value(argc, argv, &i, value_flags[k], &v)) flag = value_flags[k];
    if (!flag) {
      cli_errorf(a, "unknown option (see `vfrobust eval --help`)");
      return CLI_USAGE;
    }
    if (!v) {
      cli_errorf(flag, "needs a value");
      return CLI_USAGE;
    }
    int ok = 1;
    if (!strcmp(flag, "--model")) p.model_dir = v;
    else if (!strcmp(flag, "--data")) p.data = v;
    else if (!strcmp(flag, "--out")) p.out_dir = v;
    else if (!strcmp(flag, "--ops")) p.ops = v;
    else if (!strcmp(flag, "--max-dr")) max_dr = v;
    else if (!strcmp(flag, "--levels")) ok = parse_int(flag, v, 1, 1024, &p.levels);
    else if (!strcmp(flag, "--batch")) ok = parse_int(flag, v, 1, 4096, &p.batch);
    else if (!strcmp(flag, "--threads")) ok = parse_int(flag, v, 1, 1024, &p.threads);
    else if (!strcmp(flag, "--limit")) ok = parse_int(flag, v, 0, 1 << 30, &p.limit);
    else if (!strcmp(flag, "--per-class")) ok = parse_int(flag, v, 0, 1 << 30, &p.per_class);
    else if (!strcmp(flag, "--precision")) {
      ok = !strcmp(v, "fp32") || !strcmp(v, "bf16") || !strcmp(v, "auto");
      /* auto is resolved here, so the study records (and resumes with) what ran */
      if (ok) p.precision = !strcmp(v, "auto") ? (int)vfr_precision_auto() : !strcmp(v, "bf16");
      else cli_errorf(flag, "expects fp32, bf16 or auto");
    }
    else {
      ok = cli_parse_u64(flag, v, &p.seed) == 0;
    }
    if (!ok) return CLI_USAGE;
  }
  if (!p.model_dir || !p.data || !p.out_dir) {
    cli_errorf("eval", "--model, --data and --out are required (see `vfrobust eval --help`)");
    return CLI_USAGE;
  }
  if (cli_check_out("eval", "--out", p.out_dir, "--model", p.model_dir, "--data", p.data, NULL)) return CLI_USAGE;
  cli_gate gate = {0};
  if (max_dr && (cli_gate_parse("eval", max_dr, &gate) || cli_gate_check_ops("eval", &gate, p.ops)))
    return CLI_USAGE;

  int rank = 0, ranks = 1;
#ifdef VFR_HAVE_MPI
  /* Join MPI only when started by a launcher, so plain runs need no MPI runtime. */
  int use_mpi = getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
  if (use_mpi) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  }
#endif
  p.shard = rank;
  p.shards = ranks;
  progress_state ps = {isatty(2), 0, rank, ranks, {0}};
  p.progress = show_progress;
  p.progress_user = &ps;

  vfr_error err;
  vfr_error_clear(&err);
  /* Rank 0 holds the folder for the whole run; the other ranks start once it does. */
  vfr_study_session session = {-1, 0, 0, NULL, 0};
  int rc = rank == 0 ? vfr_study_begin(&p, &session, &err) : 0;
  int failed = rc != 0;
  if (!failed && session.cleared > 0)
    fprintf(stderr, "eval: removed %d output file%s of an earlier run from %s (a folder holds one study)\n",
            session.cleared, session.cleared == 1 ? "" : "s", p.out_dir);
  if (!failed && session.ignored_count > 0) {
    fprintf(stderr, "eval: %d file%s of %s not used (listed in summary.json):", session.ignored_count,
            session.ignored_count == 1 ? "" : "s", p.data);
    for (int k = 0; k < session.ignored_count && k < 10; k++) fprintf(stderr, "%s %s", k ? ";" : "", session.ignored[k]);
    fprintf(stderr, "%s\n", session.ignored_count > 10 ? "; ..." : "");
  }
#ifdef VFR_HAVE_MPI
  if (use_mpi) {
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (any && !failed) {
      failed = 1;
      rc = -1; /* rank 0 reported its error */
    }
  }
#endif
  if (!failed) {
    rc = vfr_eval_compute(&p, &err);
    failed = rc != 0;
  }
#ifdef VFR_HAVE_MPI
  if (use_mpi) {
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (any && !failed) {
      failed = 1;
      rc = -1; /* another rank reported its error */
    }
  }
#endif
  if (!failed && p.resume) {
    char who[32] = "";
    if (ranks > 1) snprintf(who, sizeof who, "[rank %d/%d] ", rank, ranks);
    fprintf(stderr, "%seval --resume: %d reused, %d new, %d changed, %d removed\n", who, ps.final.resumed,
            ps.final.added, ps.final.changed, session.removed);
  }
  if (!failed && rank == 0) {
    rc = vfr_eval_merge(&p, &err);
    failed = rc != 0;
    if (!failed) rc = vfr_report_build(p.out_dir, &err);
    failed = rc != 0;
    if (!failed)
      fprintf(stderr, "eval: wrote %s/per_image.csv, curves.csv, summary.json, embeddings/, report.html\n", p.out_dir);
  }
  vfr_study_end(&session);
#ifdef VFR_HAVE_MPI
  if (use_mpi) {
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    if (any) failed = 1;
  }
#endif
  if (rc > 0) return cli_report_error(&err, 1);
  if (failed) return CLI_FAIL;
  if (rank == 0 && gate.n > 0) {
    const char *dirs[1] = {p.out_dir};
    vfr_compare c;
    if (vfr_compare_load(dirs, 1, &c, &err)) return cli_report_error(&err, 0);
    rc = cli_gate_check("eval", &gate, &c);
    vfr_compare_free(&c);
    return rc;
  }
  return CLI_OK;
}
