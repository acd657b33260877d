package io.github.instancenorm.examples.stargan;

import java.util.ArrayList;
import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The target domains StarGAN's sample grids show for a batch: one per attribute. An attribute of an exclusive
 * group is switched on (and the rest of its group off); an independent attribute is flipped.
 */
public final class Translations {

    private Translations() {}

    /**
     * @param labels          the images' {@code [N, L]} labels
     * @param exclusiveGroups groups of which exactly one attribute is set
     * @return {@code L} target label arrays, one per attribute
     */
    public static List<INDArray> perAttribute(INDArray labels, List<int[]> exclusiveGroups) {
        int attributes = (int) labels.size(1);
        List<INDArray> targets = new ArrayList<>(attributes);
        for (int a = 0; a < attributes; a++) {
            INDArray t = labels.dup();
            int[] group = groupOf(a, exclusiveGroups);
            if (group != null) {
                for (int g : group) {
                    t.getColumn(g).assign(g == a ? 1 : 0);
                }
            } else {
                t.getColumn(a).rsubi(1);
            }
            targets.add(t);
        }
        return targets;
    }

    /** @return the exclusive group holding attribute {@code a}, or null */
    public static int[] groupOf(int a, List<int[]> exclusiveGroups) {
        for (int[] group : exclusiveGroups) {
            for (int g : group) {
                if (g == a) {
                    return group;
                }
            }
        }
        return null;
    }
}
