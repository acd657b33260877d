package io.github.instancenorm.onnx;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.Charset;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * Takes what one thread prints to {@code System.out} while it imports, line by line, to a sink of its own (the
 * log); every other thread's output goes to the real {@code System.out} untouched. M2.1's ONNX importer prints
 * hundreds of lines with Kotlin's {@code println} during an import, and {@code System.out} is one stream for the
 * whole JVM, so the only place to separate them is a {@code System.out} that looks at the calling thread.
 *
 * <p>The routing stream is installed by the first {@link #capture} and removed by the close of the last one
 * (reference counted, for imports on several threads at once); a stream someone else installed in between is
 * left in place.
 */
final class QuietStdout {
    /** A partial line longer than this is handed to the sink as it is, so one endless line cannot fill memory. */
    private static final int MAX_LINE_BYTES = 64 * 1024;

    private static final Object lock = new Object();
    private static int captures;
    private static PrintStream original;
    private static PrintStream routing;
    private static final Map<Thread, LineSink> sinks = new ConcurrentHashMap<>();

    private QuietStdout() {}

    /**
     * Sends what the calling thread prints to {@code System.out} to {@code sink}, one call per line (without the
     * line terminator), until the returned capture is closed; a thread captures once at a time.
     */
    static Capture capture(Consumer<String> sink) {
        Thread thread = Thread.currentThread();
        synchronized (lock) {
            if (sinks.containsKey(thread)) {
                throw new IllegalStateException("this thread's output is already captured");
            }
            if (captures++ == 0) {
                original = System.out;
                routing = new PrintStream(new Router(original), true, charset());
                System.setOut(routing);
            }
            LineSink lines = new LineSink(sink, charset());
            sinks.put(thread, lines);
            return new Capture(thread, lines);
        }
    }

    /** One thread's capture; {@link #close} flushes its last partial line and, if it was the last, restores. */
    static final class Capture implements AutoCloseable {
        private final Thread thread;
        private final LineSink sink;
        private boolean closed;

        private Capture(Thread thread, LineSink sink) {
            this.thread = thread;
            this.sink = sink;
        }

        /** @return the lines handed to the sink so far */
        int lines() {
            return sink.lines;
        }

        @Override
        public void close() {
            synchronized (lock) {
                if (closed) {
                    return;
                }
                closed = true;
                PrintStream stream = routing;
                if (stream != null) {
                    stream.flush(); // PrintStream's encoder may still hold this thread's last characters
                }
                sinks.remove(thread);
                sink.finish();
                if (--captures == 0) {
                    if (System.out == routing) {
                        System.setOut(original);
                    }
                    original = null;
                    routing = null;
                }
            }
        }
    }

    private static Charset charset() {
        String name = System.getProperty("sun.stdout.encoding");
        try {
            return name == null ? Charset.defaultCharset() : Charset.forName(name);
        } catch (RuntimeException e) {
            return Charset.defaultCharset();
        }
    }

    /** The bytes {@code System.out} receives, sent to the writing thread's sink or to the original stream. */
    private static final class Router extends OutputStream {
        private final PrintStream target;

        Router(PrintStream target) {
            this.target = target;
        }

        @Override
        public void write(int b) {
            LineSink s = sinks.get(Thread.currentThread());
            if (s != null && !s.emitting) {
                s.write(new byte[] {(byte) b}, 0, 1);
            } else {
                target.write(b);
            }
        }

        @Override
        public void write(byte[] b, int off, int len) {
            LineSink s = sinks.get(Thread.currentThread());
            if (s != null && !s.emitting) {
                s.write(b, off, len);
            } else {
                target.write(b, off, len);
            }
        }

        @Override
        public void flush() {
            target.flush();
        }
    }

    /** Bytes cut into lines for one thread's sink. */
    private static final class LineSink {
        private final Consumer<String> sink;
        private final Charset charset;
        private final ByteArrayOutputStream line = new ByteArrayOutputStream();
        /** True while the sink runs: what it prints itself (a logger writing to stdout) goes to the original. */
        private boolean emitting;

        private int lines;

        LineSink(Consumer<String> sink, Charset charset) {
            this.sink = sink;
            this.charset = charset;
        }

        void write(byte[] b, int off, int len) {
            for (int i = off; i < off + len; i++) {
                if (b[i] == '\n') {
                    emit();
                } else {
                    line.write(b[i]);
                    if (line.size() >= MAX_LINE_BYTES) {
                        emit();
                    }
                }
            }
        }

        void finish() {
            if (line.size() > 0) {
                emit();
            }
        }

        private void emit() {
            String text = line.toString(charset);
            line.reset();
            if (text.endsWith("\r")) {
                text = text.substring(0, text.length() - 1);
            }
            lines++;
            emitting = true;
            try {
                sink.accept(text);
            } finally {
                emitting = false;
            }
        }
    }
}
