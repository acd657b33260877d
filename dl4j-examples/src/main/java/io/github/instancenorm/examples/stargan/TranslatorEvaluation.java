package io.github.instancenorm.examples.stargan;

import java.io.IOException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * TrainStarGan's final evaluation, which judges the translator without its discriminator. The keys of the map it
 * returns are those of {@code results.properties}: {@code classifier_accuracy_on_real},
 * {@code target_attribute_accuracy} and {@code target_attribute_accuracy.<attribute>}, {@code content_mask_iou}
 * (generated shapes only) and {@code reconstruction_l1}.
 */
final class TranslatorEvaluation {

    private TranslatorEvaluation() {}

    /**
     * Judges the translator without its discriminator: an attribute classifier trained on real images checks
     * that translations carry their target attribute, the shape mask IoU checks the content was kept, and the
     * cycle L1 error checks the input can be recovered.
     */
    static Map<String, Double> evaluate(TrainingOptions o, ComputationGraph generator, ImageSource data)
            throws IOException {
        System.out.printf(
                "Evaluating: training an attribute classifier on real images (%d iterations)...%n",
                o.classifierIterations);
        AttributeClassifier judge =
                new AttributeClassifier(o.imageSize, data.attributes().size(), data.exclusiveGroups(), o.seed + 7);
        judge.train(TrainStarGan.source(o, o.seed + 2_000_003), o.classifierIterations, 32);

        ImageSource test = TrainStarGan.source(o, o.seed + 3_000_017);
        long realOk = 0;
        long realTotal = 0;
        int attributes = data.attributes().size();
        long[] targetOk = new long[attributes];
        long[] targetTotal = new long[attributes];
        double iouSum = 0;
        long iouCount = 0;
        double recSum = 0;
        long recCount = 0;
        for (int done = 0; done < o.evalImages; done += 32) {
            Batch b = test.next(Math.min(32, o.evalImages - done));
            for (boolean[] row : judge.agreement(b.images(), b.labels())) {
                for (boolean ok : row) {
                    realOk += ok ? 1 : 0;
                    realTotal++;
                }
            }
            List<INDArray> targets = Translations.perAttribute(b.labels(), data.exclusiveGroups());
            for (int a = 0; a < targets.size(); a++) {
                INDArray fake = generator.output(false, b.images(), targets.get(a))[0];
                boolean[][] ok = judge.agreement(fake, targets.get(a));
                for (boolean[] row : ok) {
                    targetOk[a] += row[a] ? 1 : 0;
                    targetTotal[a]++;
                }
                if (b.masks() != null) {
                    for (double v : ContentMetrics.maskIoU(fake, b.masks())) {
                        iouSum += v;
                        iouCount++;
                    }
                }
                INDArray rec = generator.output(false, fake, b.labels())[0];
                recSum += Transforms.abs(rec.sub(b.images())).meanNumber().doubleValue()
                        * b.images().size(0);
                recCount += b.images().size(0);
            }
        }
        Map<String, Double> r = new LinkedHashMap<>();
        r.put("classifier_accuracy_on_real", (double) realOk / realTotal);
        r.put(
                "target_attribute_accuracy",
                (double) Arrays.stream(targetOk).sum()
                        / Arrays.stream(targetTotal).sum());
        if (iouCount > 0) {
            r.put("content_mask_iou", iouSum / iouCount);
        }
        r.put("reconstruction_l1", recSum / recCount);
        System.out.printf(
                Locale.ROOT,
                "classifier accuracy on real images: %.1f%%%n",
                100 * r.get("classifier_accuracy_on_real"));
        StringBuilder perAttribute = new StringBuilder();
        for (int a = 0; a < attributes; a++) {
            double accuracy = (double) targetOk[a] / targetTotal[a];
            r.put("target_attribute_accuracy." + data.attributes().get(a), accuracy);
            perAttribute.append(String.format(
                    Locale.ROOT,
                    "%s %s %.1f%%",
                    a == 0 ? "" : ",",
                    data.attributes().get(a),
                    100 * accuracy));
        }
        System.out.printf(
                Locale.ROOT,
                "target-attribute accuracy of translations: %.1f%% (%s)%n",
                100 * r.get("target_attribute_accuracy"),
                perAttribute.toString().trim());
        if (iouCount > 0) {
            System.out.printf(
                    Locale.ROOT,
                    "content kept (shape mask IoU, input vs translation): %.3f%n",
                    r.get("content_mask_iou"));
        }
        System.out.printf(
                Locale.ROOT, "cycle reconstruction L1 (images in [-1, 1]): %.4f%n", r.get("reconstruction_l1"));
        return r;
    }
}
