package io.github.instancenorm.spark;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import org.nd4j.parameterserver.distributed.v2.transport.PortSupplier;

/**
 * The gradient-sharing transport's own UDP port, free on 127.0.0.1 and the same for every call in one JVM. The
 * default ({@code StaticPortSupplier(40123)}) gives every executor the same port, so a second executor on the same
 * host cannot bind it; a single-host cluster needs one port per executor JVM.
 */
final class LoopbackPortSupplier implements PortSupplier {

    private static final long serialVersionUID = 1L;

    /** One port per JVM: {@code SharedTrainingWrapper} asks twice (to log it, then to bind it). */
    private static int port;

    @Override
    public int getPort() {
        synchronized (LoopbackPortSupplier.class) {
            if (port == 0) {
                port = freePort();
            }
            return port;
        }
    }

    /** @return a UDP port that is free on 127.0.0.1 now */
    static int freePort() {
        try (DatagramSocket socket = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("No free UDP port on 127.0.0.1 for the gradient-sharing transport", e);
        }
    }
}
