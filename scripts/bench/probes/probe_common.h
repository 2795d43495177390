/* Shared by the C probes of scripts/bench/compare: a monotonic clock, the summary of a sample
 * set (median and p90 computed as `tooz bench` does), and the JSON lines the probes print. */
#ifndef PROBE_COMMON_H
#define PROBE_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>
#include <pthread.h>

static inline long long probe_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int probe_compare_ll(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* Prints one row as a JSON object on its own line:
 * {"key": ..., "operation": ..., "iterations": n, "median_us": ..., "p90_us": ...}
 * Median: the middle sample (the mean of the two middle ones for an even count); p90: the
 * sample at rank ceil(0.9 n) - 1, as BenchReport.swift computes them. */
static void probe_report(const char *key, const char *operation, long long *samples, int n) {
    if (n <= 0) return;
    qsort(samples, (size_t)n, sizeof samples[0], probe_compare_ll);
    double median = n % 2 ? (double)samples[n / 2] : ((double)samples[n / 2 - 1] + (double)samples[n / 2]) / 2.0;
    int rank = (int)ceil((double)n * 0.9) - 1;
    if (rank < 0) rank = 0;
    if (rank > n - 1) rank = n - 1;
    printf("{\"key\": \"%s\", \"operation\": \"%s\", \"iterations\": %d, \"median_us\": %.3f, \"p90_us\": %.3f}\n",
           key, operation, n, median / 1000.0, (double)samples[rank] / 1000.0);
    fflush(stdout);
}

static void probe_die(const char *what) {
    perror(what);
    exit(1);
}

/* The hand-off handshake between a probe's main thread and its waiter thread. Steps: 0 the
 * waiter is idle, 1 go, 2 the waiter is about to block (or blocks), 3 it holds the lock and has
 * set probe_acquired_at, -1 stop; a probe may use others before its waiter starts. */
static pthread_mutex_t probe_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t probe_cond = PTHREAD_COND_INITIALIZER;
static int probe_state;
static long long probe_acquired_at;

static void probe_set_state(int value) {
    pthread_mutex_lock(&probe_mutex);
    probe_state = value;
    pthread_cond_broadcast(&probe_cond);
    pthread_mutex_unlock(&probe_mutex);
}

/* Waits until the state is `a` or `b` and returns it. */
static int probe_wait_state(int a, int b) {
    pthread_mutex_lock(&probe_mutex);
    while (probe_state != a && probe_state != b) pthread_cond_wait(&probe_cond, &probe_mutex);
    int value = probe_state;
    pthread_mutex_unlock(&probe_mutex);
    return value;
}

#endif
