package io.github.instancenorm.examples.stargan;

import java.util.List;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.DataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

/**
 * An {@link ImageSource} as the endless DL4J stream that {@code StarGanTrainer.train} reads: each {@link #next()} is
 * the source's next batch, features the images and labels the attribute values. Generated data never runs out, so
 * it has no epochs and cannot be reset.
 */
final class ImageSourceIterator implements DataSetIterator {

    private final ImageSource source;
    private final int batchSize;
    private DataSetPreProcessor preProcessor;

    /**
     * @param source    where the images come from
     * @param batchSize images per batch
     */
    ImageSourceIterator(ImageSource source, int batchSize) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
        }
        this.source = source;
        this.batchSize = batchSize;
    }

    @Override
    public DataSet next(int num) {
        Batch b = source.next(num);
        DataSet d = new DataSet(b.images(), b.labels());
        if (preProcessor != null) {
            preProcessor.preProcess(d);
        }
        return d;
    }

    @Override
    public DataSet next() {
        return next(batchSize);
    }

    @Override
    public boolean hasNext() {
        return true;
    }

    @Override
    public int inputColumns() {
        return 3 * source.imageSize() * source.imageSize();
    }

    @Override
    public int totalOutcomes() {
        return source.attributes().size();
    }

    @Override
    public boolean resetSupported() {
        return false;
    }

    @Override
    public boolean asyncSupported() {
        return false;
    }

    @Override
    public void reset() {
        throw new UnsupportedOperationException("a generated image stream has no epochs to restart");
    }

    @Override
    public int batch() {
        return batchSize;
    }

    @Override
    public void setPreProcessor(DataSetPreProcessor preProcessor) {
        this.preProcessor = preProcessor;
    }

    @Override
    public DataSetPreProcessor getPreProcessor() {
        return preProcessor;
    }

    @Override
    public List<String> getLabels() {
        return source.attributes();
    }
}
