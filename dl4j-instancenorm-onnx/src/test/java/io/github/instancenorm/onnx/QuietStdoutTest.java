package io.github.instancenorm.onnx;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The routing {@code System.out}: the capturing thread's lines to its sink, everyone else's to the real stream. */
class QuietStdoutTest {
    private PrintStream before;
    private ByteArrayOutputStream stdout;
    private PrintStream original;

    @BeforeEach
    void replaceStdout() {
        before = System.out;
        stdout = new ByteArrayOutputStream();
        original = new PrintStream(stdout, true, UTF_8);
        System.setOut(original);
    }

    @AfterEach
    void restoreStdout() {
        System.setOut(before);
    }

    @Test
    void theCapturingThreadsLinesGoToItsSinkAndOtherThreadsToStdout() throws Exception {
        List<String> sink = Collections.synchronizedList(new ArrayList<>());
        try (QuietStdout.Capture c = QuietStdout.capture(sink::add)) {
            assertNotSame(original, System.out);
            System.out.println("one");
            System.out.print("two\r\nthree");
            Thread other = new Thread(() -> System.out.println("from another thread"));
            other.start();
            other.join();
            System.out.print('!');
            assertEquals(2, c.lines());
        }
        assertSame(original, System.out);
        assertEquals(List.of("one", "two", "three!"), sink);
        assertEquals("from another thread" + System.lineSeparator(), stdout.toString(UTF_8));
    }

    @Test
    void theRealStreamComesBackWhenTheLastOfSeveralCapturesCloses() throws Exception {
        List<String> mine = new ArrayList<>();
        List<String> theirs = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch captured = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Thread other = new Thread(() -> {
            try (QuietStdout.Capture c = QuietStdout.capture(theirs::add)) {
                captured.countDown();
                release.await();
                System.out.println("theirs");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        other.start();
        captured.await();
        try (QuietStdout.Capture c = QuietStdout.capture(mine::add)) {
            System.out.println("mine");
        }
        assertNotSame(original, System.out, "the other thread's capture is still open");
        System.out.println("main, uncaptured");
        release.countDown();
        other.join();
        assertSame(original, System.out);
        assertEquals(List.of("mine"), mine);
        assertEquals(List.of("theirs"), theirs);
        assertEquals("main, uncaptured" + System.lineSeparator(), stdout.toString(UTF_8));
    }

    @Test
    void aSinkThatPrintsReachesTheRealStreamAndTheStreamComesBackAfterAnException() {
        assertThrows(IllegalStateException.class, () -> {
            try (QuietStdout.Capture c = QuietStdout.capture(line -> System.out.println("logged: " + line))) {
                System.out.println("inside");
                throw new IllegalStateException("fails while captured");
            }
        });
        assertSame(original, System.out);
        assertEquals("logged: inside" + System.lineSeparator(), stdout.toString(UTF_8));
    }
}
