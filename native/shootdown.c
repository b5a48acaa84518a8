/*
 * shootdown.c: the host-side microbenchmark of `tlbsim calibrate`.
 *
 * What it measures (each a loop of operations, timed per thread with
 * CLOCK_MONOTONIC, repeated REPS times after one untimed warm-up repetition):
 *   madvise P T all   will-it-scale tlb_flush2 (threads mode): each of T threads
 *                     of this process writes one byte to each of its own P pages
 *                     and madvise(MADV_DONTNEED)s them, until thread 0 has run
 *                     BUDGET_MS; the zap flushes the other threads' CPUs
 *                     (zap_page_range -> tlb_finish_mmu -> flush_tlb_mm_range).
 *   madvise P T spin  thread 0 does the same; threads 1..T-1 spin writing their
 *                     own page, so they stay in mm_cpumask and not lazy: the
 *                     difference from T = 1 is the remote-flush cost.
 *   munmap  L T       thread 0 mmaps a fresh range of L pages, writes each page,
 *                     munmaps it; threads 1..T-1 spin as above. munmap flushes
 *                     per page up to tlb_single_page_flush_ceiling (33) and the
 *                     whole TLB above it.
 *   info              prints the CPUs of this process's affinity mask.
 *
 * Invariants:
 * - Thread i is pinned (pthread_setaffinity_np) to the i-th CPU of the mask
 *   sched_getaffinity returned; T larger than the mask is refused (exit 2).
 * - SNAPDIR/{interrupts,vmstat}.{before,after} are copies of /proc/interrupts
 *   and /proc/vmstat taken right before the first timed repetition and right
 *   after the last (threads created, pinned and warmed up; none exited), so
 *   the counts between them belong to the timed loops plus whatever else the
 *   host ran meanwhile.
 * - Output: one JSON line on stdout; errors: one line on stderr, exit 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 1024

enum op_kind { OP_MADVISE, OP_MUNMAP };

static enum op_kind kind;
static int spin_others; /* 1: threads 1.. spin; 0: every thread runs the op (tlb_flush2) */
static long pages, page_size, budget_ns;
static int nthreads;
static int cpus[MAX_THREADS], ncpus;
static pthread_barrier_t start_bar, end_bar;
static atomic_int stop_flag, quit_flag;
static long ops_done[MAX_THREADS];
static long ns_taken[MAX_THREADS];

static void die(const char *msg) {
	fprintf(stderr, "shootdown: %s\n", msg);
	exit(2);
}

static long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void read_mask(void) {
	cpu_set_t set;
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof set, &set) != 0) die("sched_getaffinity failed");
	ncpus = 0;
	for (int c = 0; c < CPU_SETSIZE && ncpus < MAX_THREADS; c++)
		if (CPU_ISSET(c, &set)) cpus[ncpus++] = c;
}

static void touch(char *base, long n) {
	for (long i = 0; i < n; i++) ((volatile char *)base)[i * page_size] = (char)i;
}

/* One operation of thread `id` on its region `mine` (madvise) or a fresh range (munmap). */
static void one_op(char *mine) {
	if (kind == OP_MADVISE) {
		touch(mine, pages);
		if (madvise(mine, (size_t)pages * page_size, MADV_DONTNEED) != 0) die("madvise(MADV_DONTNEED) failed");
	} else {
		char *r = mmap(NULL, (size_t)pages * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (r == MAP_FAILED) die("mmap failed");
		touch(r, pages);
		if (munmap(r, (size_t)pages * page_size) != 0) die("munmap failed");
	}
}

static void *worker(void *arg) {
	int id = (int)(long)arg;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpus[id], &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) die("pthread_setaffinity_np failed");
	long region = kind == OP_MADVISE ? pages : 1;
	char *mine = mmap(NULL, (size_t)region * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mine == MAP_FAILED) die("mmap failed");
	int runs_op = id == 0 || !spin_others;
	for (;;) {
		pthread_barrier_wait(&start_bar);
		if (atomic_load(&quit_flag)) break;
		long n = 0, t0 = now_ns(), t;
		if (runs_op) {
			do {
				one_op(mine);
				n++;
				t = now_ns();
				if (id == 0 && t - t0 >= budget_ns) atomic_store(&stop_flag, 1);
			} while (!atomic_load_explicit(&stop_flag, memory_order_relaxed));
		} else {
			/* Spin in user space on this mm: stay in mm_cpumask, never lazy. */
			while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) ((volatile char *)mine)[0]++;
			t = now_ns();
		}
		ops_done[id] = n;
		ns_taken[id] = t - t0;
		pthread_barrier_wait(&end_bar);
	}
	munmap(mine, (size_t)region * page_size);
	return NULL;
}

static void copy_file(const char *from, const char *dir, const char *name) {
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *in = fopen(from, "r");
	if (!in) return; /* absent on this kernel: the caller reports it missing */
	FILE *out = fopen(path, "w");
	if (!out) die("cannot write a snapshot into SNAPDIR");
	char buf[65536];
	size_t k;
	while ((k = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, k, out);
	fclose(in);
	fclose(out);
}

static void snapshot(const char *dir, const char *when) {
	char name[64];
	snprintf(name, sizeof name, "interrupts.%s", when);
	copy_file("/proc/interrupts", dir, name);
	snprintf(name, sizeof name, "vmstat.%s", when);
	copy_file("/proc/vmstat", dir, name);
}

static void run_rep(void) {
	atomic_store(&stop_flag, 0);
	pthread_barrier_wait(&start_bar);
	pthread_barrier_wait(&end_bar);
}

static long parse_pos(const char *s, const char *what) {
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < 1) {
		fprintf(stderr, "shootdown: %s must be a positive integer, got '%s'\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv) {
	page_size = sysconf(_SC_PAGESIZE);
	read_mask();
	if (argc == 2 && strcmp(argv[1], "info") == 0) {
		printf("{\"cpus\":[");
		for (int i = 0; i < ncpus; i++) printf("%s%d", i ? "," : "", cpus[i]);
		printf("],\"page_size\":%ld}\n", page_size);
		return 0;
	}
	int is_madvise = argc == 8 && strcmp(argv[1], "madvise") == 0;
	int is_munmap = argc == 7 && strcmp(argv[1], "munmap") == 0;
	if (!is_madvise && !is_munmap)
		die("usage: shootdown info | madvise PAGES THREADS all|spin BUDGET_MS REPS SNAPDIR | munmap PAGES THREADS BUDGET_MS REPS SNAPDIR");
	kind = is_madvise ? OP_MADVISE : OP_MUNMAP;
	pages = parse_pos(argv[2], "PAGES");
	nthreads = (int)parse_pos(argv[3], "THREADS");
	int a = 4;
	if (is_madvise) {
		if (strcmp(argv[a], "all") == 0) spin_others = 0;
		else if (strcmp(argv[a], "spin") == 0) spin_others = 1;
		else die("ROLE must be all or spin");
		a++;
	} else {
		spin_others = 1;
	}
	budget_ns = parse_pos(argv[a++], "BUDGET_MS") * 1000000L;
	long reps = parse_pos(argv[a++], "REPS");
	const char *snapdir = argv[a];
	if (nthreads > ncpus) {
		fprintf(stderr, "shootdown: THREADS (%d) is more than the %d CPUs of the affinity mask\n", nthreads, ncpus);
		return 2;
	}
	pthread_barrier_init(&start_bar, NULL, (unsigned)nthreads + 1);
	pthread_barrier_init(&end_bar, NULL, (unsigned)nthreads + 1);
	pthread_t th[MAX_THREADS];
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)(long)i) != 0) die("pthread_create failed");
	run_rep(); /* warm-up: faults in the page tables, pins settle */
	snapshot(snapdir, "before");
	printf("{\"op\":\"%s\",\"pages\":%ld,\"threads\":%d,\"role\":\"%s\",\"cpus\":[", argv[1], pages, nthreads, spin_others ? "spin" : "all");
	for (int i = 0; i < nthreads; i++) printf("%s%d", i ? "," : "", cpus[i]);
	printf("],\"reps\":[");
	/* Results are printed after the after-snapshot: stdout writes stay out of the timed window. */
	long (*ops)[MAX_THREADS] = calloc((size_t)reps, sizeof *ops);
	long (*ns)[MAX_THREADS] = calloc((size_t)reps, sizeof *ns);
	if (!ops || !ns) die("out of memory");
	for (long r = 0; r < reps; r++) {
		run_rep();
		memcpy(ops[r], ops_done, sizeof ops_done);
		memcpy(ns[r], ns_taken, sizeof ns_taken);
	}
	snapshot(snapdir, "after");
	atomic_store(&quit_flag, 1);
	pthread_barrier_wait(&start_bar);
	for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
	for (long r = 0; r < reps; r++) {
		printf("%s{\"ops\":[", r ? "," : "");
		for (int i = 0; i < nthreads; i++) printf("%s%ld", i ? "," : "", ops[r][i]);
		printf("],\"ns\":[");
		for (int i = 0; i < nthreads; i++) printf("%s%ld", i ? "," : "", ns[r][i]);
		printf("]}");
	}
	printf("]}\n");
	return 0;
}
