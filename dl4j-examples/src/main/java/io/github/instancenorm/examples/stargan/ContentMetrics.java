package io.github.instancenorm.examples.stargan;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Whether a translation kept the content: the shape's mask in the translated image, segmented against the
 * image's own background colour (estimated from its border), compared with the input's true mask by
 * intersection over union.
 */
public final class ContentMetrics {

    /** Distance in RGB ([-1, 1] units) from the background colour above which a pixel belongs to the shape. */
    private static final double FOREGROUND_DISTANCE = 0.6;

    private ContentMetrics() {}

    /**
     * @param images {@code [N, 3, S, S]} in [-1, 1]
     * @param masks  {@code [N, S, S]} true content masks
     * @return the IoU per image
     */
    public static double[] maskIoU(INDArray images, INDArray masks) {
        int n = (int) images.size(0);
        int s = (int) images.size(2);
        float[] img = images.castTo(DataType.FLOAT).dup('c').data().asFloat();
        float[] msk = masks.castTo(DataType.FLOAT).dup('c').data().asFloat();
        double[] iou = new double[n];
        int plane = s * s;
        for (int i = 0; i < n; i++) {
            int base = i * 3 * plane;
            double[] bg = new double[3];
            int border = 0;
            for (int y = 0; y < s; y++) {
                for (int x = 0; x < s; x++) {
                    if (x == 0 || y == 0 || x == s - 1 || y == s - 1) {
                        for (int c = 0; c < 3; c++) {
                            bg[c] += img[base + c * plane + y * s + x];
                        }
                        border++;
                    }
                }
            }
            long inter = 0;
            long union = 0;
            for (int p = 0; p < plane; p++) {
                double d2 = 0;
                for (int c = 0; c < 3; c++) {
                    double d = img[base + c * plane + p] - bg[c] / border;
                    d2 += d * d;
                }
                boolean predicted = d2 > FOREGROUND_DISTANCE * FOREGROUND_DISTANCE;
                boolean truth = msk[i * plane + p] > 0.5f;
                inter += predicted && truth ? 1 : 0;
                union += predicted || truth ? 1 : 0;
            }
            iou[i] = union == 0 ? 1 : (double) inter / union;
        }
        return iou;
    }
}
