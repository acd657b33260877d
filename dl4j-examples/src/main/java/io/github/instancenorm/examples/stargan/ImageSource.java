package io.github.instancenorm.examples.stargan;

import java.util.List;

/**
 * Where training images and their attribute labels come from.
 */
public interface ImageSource {

    /** @return the next {@code n} images, with labels */
    Batch next(int n);

    /** @return the attribute names, in label order */
    List<String> attributes();

    /**
     * @return groups of attribute indices of which exactly one is set (like CelebA's hair colours); every other
     *         attribute is an independent binary one
     */
    List<int[]> exclusiveGroups();

    /** @return the side of the square images */
    int imageSize();
}
