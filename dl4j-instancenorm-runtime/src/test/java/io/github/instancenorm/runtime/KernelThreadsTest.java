package io.github.instancenorm.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@link KernelThreads}: every task once, failures, working memory, and a stalled thread's tasks taken over. */
class KernelThreadsTest {

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3, 7, 8, 9, 1000})
    void runsEveryTaskOnceAndHandsBackEveryScratch(int tasks) {
        AtomicIntegerArray runs = new AtomicIntegerArray(Math.max(1, tasks));
        AtomicInteger taken = new AtomicInteger();
        AtomicInteger given = new AtomicInteger();
        KernelThreads.run(
                tasks,
                () -> new int[] {taken.incrementAndGet()},
                (t, scratch) -> {
                    runs.incrementAndGet(t);
                    // A little work per task, so that the helpers get some of it.
                    busy(2_000);
                },
                scratch -> given.incrementAndGet());
        for (int t = 0; t < tasks; t++) {
            assertEquals(1, runs.get(t), "task " + t);
        }
        // run() returns when every task has finished; a helper hands its working memory back just after its last
        // task, so that may come a moment later.
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (given.get() < taken.get() && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertEquals(taken.get(), given.get(), "working memory handed out and back");
        assertTrue(
                taken.get() <= Math.min(tasks, KernelThreads.parallelism()),
                taken.get() + " threads took part in " + tasks + " tasks");
    }

    @Test
    void rethrowsTheFirstFailureAfterEveryTaskHasFinished() {
        int tasks = 64;
        AtomicInteger finished = new AtomicInteger();
        IllegalStateException failure = new IllegalStateException("task 5");
        IllegalStateException thrown = assertThrows(
                IllegalStateException.class,
                () -> KernelThreads.run(
                        tasks,
                        () -> null,
                        (t, scratch) -> {
                            try {
                                if (t == 5) {
                                    throw failure;
                                }
                                busy(2_000);
                            } finally {
                                finished.incrementAndGet();
                            }
                        },
                        scratch -> {}));
        assertSame(failure, thrown);
        // Tasks after the failure are skipped, but none is still running when run() returns.
        int atReturn = finished.get();
        busy(1_000_000);
        assertEquals(atReturn, finished.get());
    }

    @Test
    void takesOverTheTasksOfAStalledThread() throws InterruptedException {
        assumeTrue(KernelThreads.parallelism() > 1, "one thread: nothing runs in parallel");
        int tasks = 64;
        Thread caller = Thread.currentThread();
        CountDownLatch lastTaskRan = new CountDownLatch(1);
        AtomicInteger waitedTooLong = new AtomicInteger();
        AtomicIntegerArray runs = new AtomicIntegerArray(tasks);
        // Every helper stalls in its first task until the job's last task has run. Each thread owns a contiguous
        // range; the last task is at the far end of the last range, so the caller only gets to it by taking tasks
        // from the back of ranges other than its own.
        KernelThreads.run(
                tasks,
                () -> null,
                (t, scratch) -> {
                    runs.incrementAndGet(t);
                    if (t == tasks - 1) {
                        lastTaskRan.countDown();
                    }
                    if (Thread.currentThread() != caller) {
                        try {
                            if (!lastTaskRan.await(10, TimeUnit.SECONDS)) {
                                waitedTooLong.incrementAndGet();
                            }
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                },
                scratch -> {});
        assertEquals(0, waitedTooLong.get(), "a helper waited 10 s for the caller to take over its range");
        for (int t = 0; t < tasks; t++) {
            assertEquals(1, runs.get(t), "task " + t);
        }
    }

    @Test
    void concurrentCallersEachFinishTheirOwnJob() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            Future<?>[] jobs = new Future<?>[4];
            ConcurrentHashMap<Integer, AtomicIntegerArray> runs = new ConcurrentHashMap<>();
            for (int j = 0; j < jobs.length; j++) {
                int job = j;
                runs.put(job, new AtomicIntegerArray(200));
                jobs[j] = pool.submit(() -> {
                    for (int repeat = 0; repeat < 20; repeat++) {
                        int call = repeat;
                        KernelThreads.run(
                                10,
                                () -> null,
                                (t, scratch) -> {
                                    runs.get(job).incrementAndGet(call * 10 + t);
                                    busy(1_000);
                                },
                                scratch -> {});
                    }
                });
            }
            for (Future<?> f : jobs) {
                f.get(60, TimeUnit.SECONDS);
            }
            runs.forEach((job, counts) -> {
                for (int i = 0; i < counts.length(); i++) {
                    assertEquals(1, counts.get(i), "job " + job + ", call " + i / 10 + ", task " + i % 10);
                }
            });
        } finally {
            pool.shutdownNow();
        }
    }

    private static void busy(long nanos) {
        long end = System.nanoTime() + nanos;
        while (System.nanoTime() < end) {
            Thread.onSpinWait();
        }
    }
}
