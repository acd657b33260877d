package io.github.instancenorm.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;
import org.nd4j.parameterserver.distributed.v2.transport.PortSupplier;

class LoopbackPortSupplierTest {

    @Test
    void onePortPerJvmThatCanBeBoundOnLoopback() throws Exception {
        PortSupplier supplier = new LoopbackPortSupplier();
        int port = supplier.getPort();
        assertTrue(port > 0 && port < 65536, "port " + port);
        assertEquals(port, supplier.getPort(), "asked twice");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(supplier);
        }
        PortSupplier copy;
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            copy = (PortSupplier) in.readObject();
        }
        assertEquals(port, copy.getPort(), "a deserialized copy in the same JVM");
        try (DatagramSocket socket =
                new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), port))) {
            assertEquals(port, socket.getLocalPort());
        }
    }
}
