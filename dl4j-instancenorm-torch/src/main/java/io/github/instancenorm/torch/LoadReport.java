package io.github.instancenorm.torch;

import java.util.List;

/**
 * What {@link TorchWeights#load} matched, in PyTorch's terms.
 *
 * @param loadedKeys      state dict keys copied into the network
 * @param missingKeys     keys the network expects that the state dict lacks
 * @param unexpectedKeys  tensors of the state dict no layer takes
 * @param shapeMismatches one line per key present in both with different shapes, quoting both
 * @param unmapped        layers or parameters the network has but no {@link ParamMapper} covers
 */
public record LoadReport(
        List<String> loadedKeys,
        List<String> missingKeys,
        List<String> unexpectedKeys,
        List<String> shapeMismatches,
        List<String> unmapped) {

    /** Makes the lists unmodifiable copies. */
    public LoadReport {
        loadedKeys = List.copyOf(loadedKeys);
        missingKeys = List.copyOf(missingKeys);
        unexpectedKeys = List.copyOf(unexpectedKeys);
        shapeMismatches = List.copyOf(shapeMismatches);
        unmapped = List.copyOf(unmapped);
    }

    /** @return whether every key matched: what strict loading requires */
    public boolean isComplete() {
        return missingKeys.isEmpty() && unexpectedKeys.isEmpty() && shapeMismatches.isEmpty() && unmapped.isEmpty();
    }

    /** @return a summary in the words of PyTorch's load_state_dict error */
    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("loaded " + loadedKeys.size() + " tensor(s)");
        if (!missingKeys.isEmpty()) {
            b.append("\n  Missing key(s) in state_dict: ")
                    .append(String.join(", ", missingKeys))
                    .append('.');
        }
        if (!unexpectedKeys.isEmpty()) {
            b.append("\n  Unexpected key(s) in state_dict: ")
                    .append(String.join(", ", unexpectedKeys))
                    .append('.');
        }
        for (String s : shapeMismatches) {
            b.append("\n  ").append(s);
        }
        for (String s : unmapped) {
            b.append("\n  ").append(s);
        }
        return b.toString();
    }
}
