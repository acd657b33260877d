package io.github.instancenorm.runtime;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The threads that run the CPU kernels' tasks in parallel: the calling thread plus one helper per further core,
 * in the manner of an OpenMP runtime. A job's tasks are split into one contiguous range per thread, as OpenMP's
 * static schedule does, and each thread works through its own range in order: a thread streams through one long
 * stretch of memory, which the hardware prefetchers follow (handing out tasks one at a time from a shared counter
 * interleaves the threads' stretches, and a copy of a 16 MiB array took 1.8 times as long that way on a 2-core
 * VM). A thread that has finished its own range takes tasks from the far end of the others', so a helper that
 * starts late only gets what is left: a job is never slower than running it on the caller alone by more than
 * waking the helpers. After a job a helper keeps polling for the next one for {@value #DEFAULT_SPIN_MICROS} µs
 * (system property {@value #SPIN_PROPERTY}) before it parks. Waking a parked thread takes tens of microseconds on
 * a virtual machine, as long as the whole job of a small layer; the layers of a network follow one another closely
 * enough for the polling helper to catch the next one. A polling helper yields its core between looks
 * ({@code Thread.yield}), so that other runnable threads take it: between two instance norms a network runs
 * libnd4j ops on OpenMP threads, and with a busy-waiting helper beside them the StarGAN example's generator step
 * took 39-43 ms instead of 34-35 ms on 2 cores. {@code 0} turns the polling off.
 *
 * <p>The pool has {@code min(cores, }{@value #DEFAULT_MAX_THREADS}{@code )} threads including the caller, or as many
 * as the system property {@value #THREADS_PROPERTY} says ({@code 1}: everything on the calling thread).
 *
 * <p>One job runs at a time. A thread that calls while another thread's job is running runs its own job alone,
 * so concurrent callers (several networks on several threads) never wait for one another.
 */
public final class KernelThreads {

    /** System property: how long, in microseconds, an idle helper polls for the next job before parking. */
    static final String SPIN_PROPERTY = KernelSettings.SPIN_MICROS_PROPERTY;

    /** Default of {@value #SPIN_PROPERTY}. */
    public static final long DEFAULT_SPIN_MICROS = 200;
    /** System property: the number of threads a job may use, the caller included. */
    static final String THREADS_PROPERTY = KernelSettings.THREADS_PROPERTY;

    /** Default upper bound of {@value #THREADS_PROPERTY}: {@code min(cores, DEFAULT_MAX_THREADS)}. */
    public static final int DEFAULT_MAX_THREADS = 8;

    private static final long SPIN_NANOS = Math.max(0, Long.getLong(SPIN_PROPERTY, DEFAULT_SPIN_MICROS)) * 1000;
    private static final int HELPERS = Math.max(
            0,
            Integer.getInteger(
                            THREADS_PROPERTY, Math.min(Runtime.getRuntime().availableProcessors(), DEFAULT_MAX_THREADS))
                    - 1);
    private static final ReentrantLock JOB_LOCK = new ReentrantLock();

    private static volatile Job current;
    private static Helper[] helpers;

    private KernelThreads() {}

    /** @return the number of threads a job can use: the caller and the helpers */
    public static int parallelism() {
        return HELPERS + 1;
    }

    /**
     * Runs {@code task} for {@code 0 <= t < tasks}, on this thread and the helpers, and returns when every task
     * has finished. {@code perThread} is called once on each thread that takes part, before its first task, to
     * hand it its working memory; {@code release} once after its last.
     *
     * @param tasks     number of tasks
     * @param perThread gives the thread's working memory
     * @param task      the work of one task
     * @param release   takes the working memory back
     * @param <S>       the working memory's type
     * @throws RuntimeException or Error: the first one a task threw, after all tasks have finished
     */
    public static <S> void run(int tasks, Supplier<S> perThread, TaskBody<S> task, Consumer<S> release) {
        if (HELPERS == 0 || tasks < 2 || !JOB_LOCK.tryLock()) {
            runAlone(tasks, perThread, task, release);
            return;
        }
        try {
            Job job = new Job(tasks, HELPERS + 1, new Work<>(perThread, task, release));
            startHelpers();
            current = job;
            for (Helper h : helpers) {
                if (h.parked) {
                    LockSupport.unpark(h.thread);
                }
            }
            job.take(0);
            // The helpers hold at most one task each; wait for those to finish.
            while (job.finished.get() < tasks) {
                Thread.onSpinWait();
            }
            current = null;
            job.rethrow();
        } finally {
            JOB_LOCK.unlock();
        }
    }

    /** {@link #run} on the calling thread only. */
    public static <S> void runAlone(int tasks, Supplier<S> perThread, TaskBody<S> task, Consumer<S> release) {
        if (tasks <= 0) {
            return;
        }
        S scratch = perThread.get();
        try {
            for (int t = 0; t < tasks; t++) {
                task.run(t, scratch);
            }
        } finally {
            release.accept(scratch);
        }
    }

    private static void startHelpers() {
        if (helpers != null) {
            return;
        }
        Helper[] hs = new Helper[HELPERS];
        for (int i = 0; i < hs.length; i++) {
            hs[i] = new Helper(i + 1);
        }
        helpers = hs;
    }

    /**
     * The work of one task, with the running thread's working memory.
     *
     * @param <S> the working memory's type
     */
    public interface TaskBody<S> {
        /**
         * @param task    the task's index
         * @param scratch the running thread's working memory
         */
        void run(int task, S scratch);
    }

    /**
     * One parallel run: each thread's range of tasks, the count of finished tasks, and the first failure. A range is
     * one {@code long} in {@code ranges}, its next task in the high half and its end in the low half, so that the
     * owner (taking from the front) and the others (taking from the back) claim tasks with one compare-and-set.
     */
    private static final class Job {
        /** {@code long}s between two ranges, so that they do not share a cache line. */
        private static final int STRIDE = 16;

        final int tasks;
        final int threads;
        final AtomicLongArray ranges;
        final AtomicInteger finished = new AtomicInteger();
        final Work<?> work;
        volatile Throwable failure;

        Job(int tasks, int threads, Work<?> work) {
            this.tasks = tasks;
            this.threads = threads;
            this.work = work;
            ranges = new AtomicLongArray(threads * STRIDE);
            for (int r = 0; r < threads; r++) {
                long from = (long) tasks * r / threads;
                long to = (long) tasks * (r + 1) / threads;
                ranges.set(r * STRIDE, from << 32 | to);
            }
        }

        /** Thread {@code id} (0 the caller, {@code i + 1} helper {@code i}) takes and runs tasks until none is left. */
        void take(int id) {
            work.takeAll(this, id);
        }

        /** @return the next task of range {@code r} from its front ({@code fromBack} false) or back, or -1 */
        int next(int r, boolean fromBack) {
            int at = r * STRIDE;
            while (true) {
                long v = ranges.get(at);
                int front = (int) (v >>> 32);
                int end = (int) v;
                if (front >= end) {
                    return -1;
                }
                long taken = fromBack ? (long) front << 32 | (end - 1) : (long) (front + 1) << 32 | end;
                if (ranges.compareAndSet(at, v, taken)) {
                    return fromBack ? end - 1 : front;
                }
            }
        }

        void rethrow() {
            Throwable f = failure;
            if (f instanceof RuntimeException r) {
                throw r;
            }
            if (f instanceof Error e) {
                throw e;
            }
        }
    }

    /** A job's task body with the working memory each taking thread gets and gives back. */
    private record Work<S>(Supplier<S> perThread, TaskBody<S> task, Consumer<S> release) {
        void takeAll(Job job, int id) {
            S scratch = null;
            try {
                // Own range first, front to back; then what is left of the others', from their back.
                for (int k = 0; k < job.threads; k++) {
                    int r = (id + k) % job.threads;
                    for (int t; (t = job.next(r, k > 0)) >= 0; ) {
                        if (scratch == null) {
                            scratch = perThread.get();
                        }
                        try {
                            if (job.failure == null) {
                                task.run(t, scratch);
                            }
                        } catch (Throwable e) {
                            if (job.failure == null) {
                                job.failure = e;
                            }
                        } finally {
                            job.finished.incrementAndGet();
                        }
                    }
                }
            } finally {
                if (scratch != null) {
                    release.accept(scratch);
                }
            }
        }
    }

    /** A helper thread: polls for jobs, then parks until {@link #run} wakes it. */
    private static final class Helper implements Runnable {
        final Thread thread;
        /** This helper's range in every job: 1 for the first helper (the caller has 0). */
        final int id;

        volatile boolean parked;

        Helper(int id) {
            this.id = id;
            thread = new Thread(this, "instancenorm-kernel-" + id);
            thread.setDaemon(true);
            thread.start();
        }

        @Override
        public void run() {
            Job last = null;
            while (true) {
                Job job = current;
                if (job != null && job != last) {
                    job.take(id);
                    last = job;
                    continue;
                }
                long deadline = System.nanoTime() + SPIN_NANOS;
                while ((job = current) == null || job == last) {
                    if (System.nanoTime() - deadline >= 0) {
                        parked = true;
                        // Re-check after announcing: run() unparks only helpers it sees parked.
                        if ((job = current) == null || job == last) {
                            LockSupport.park(this);
                        }
                        parked = false;
                        deadline = System.nanoTime() + SPIN_NANOS;
                    } else {
                        Thread.yield();
                    }
                }
            }
        }
    }
}
