package io.github.instancenorm.examples;

import picocli.CommandLine;

/** How the examples' command-line programs read their flags: picocli, annotated options objects. */
public final class Cli {

    private Cli() {}

    /**
     * Fills {@code options} (a picocli {@code @Command} with {@code @Option} fields) from {@code args}. On
     * {@code --help} or {@code --version} it prints to standard output and returns {@code null}; the caller stops.
     *
     * @param options the options object, with its defaults
     * @param args    the command line
     * @param <T>     the options' type
     * @return {@code options}, filled; {@code null} when help was printed
     * @throws IllegalArgumentException naming a missing, unknown or malformed flag, with picocli's message
     */
    public static <T> T parse(T options, String... args) {
        CommandLine cli = new CommandLine(options).setCaseInsensitiveEnumValuesAllowed(true);
        try {
            cli.parseArgs(args);
        } catch (CommandLine.ParameterException e) {
            throw new IllegalArgumentException(e.getMessage() + " (see --help)", e);
        }
        if (cli.isUsageHelpRequested()) {
            cli.usage(System.out);
            return null;
        }
        if (cli.isVersionHelpRequested()) {
            cli.printVersionHelp(System.out);
            return null;
        }
        return options;
    }
}
