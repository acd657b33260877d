package io.github.instancenorm.learning;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.serde.json.JsonMappers;
import org.nd4j.shade.jackson.databind.ObjectMapper;

/** StarGAN's schedule: its values, and its JSON inside an updater configuration under this package's name. */
class LinearDecayScheduleTest {

    @Test
    void constantThenFallingLinearlyToZero() {
        LinearDecaySchedule s = new LinearDecaySchedule(2e-3, 6, 10);
        assertEquals(2e-3, s.valueAt(0, 0));
        assertEquals(2e-3, s.valueAt(5, 0));
        assertEquals(2e-3, s.valueAt(6, 0), 1e-18);
        assertEquals(1e-3, s.valueAt(8, 0), 1e-18);
        assertEquals(0.5e-3, s.valueAt(9, 0), 1e-18);
        assertEquals(0, s.valueAt(10, 0));
        assertEquals(2e-3, new LinearDecaySchedule(2e-3, 10, 10).valueAt(9, 0), "no decay");
        assertThrows(IllegalArgumentException.class, () -> new LinearDecaySchedule(1e-3, 11, 10));
    }

    @Test
    void savedInsideAnUpdaterConfiguration() throws Exception {
        IUpdater adam = new Adam(new LinearDecaySchedule(1e-4, 5, 10));
        ObjectMapper json = JsonMappers.getMapper();
        String text = json.writeValueAsString(adam);
        assertTrue(text.contains(LinearDecaySchedule.class.getName()), text);
        IUpdater back = json.readValue(text, IUpdater.class);
        assertEquals(adam, back);
    }
}
