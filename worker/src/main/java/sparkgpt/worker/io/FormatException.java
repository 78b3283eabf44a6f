// Thrown when a file a user supplied (a checkpoint, a config, a fixture) is not in the expected
// format. Unchecked, because callers cannot repair the file, only report it.
package sparkgpt.worker.io;

/** A malformed input; the message names the source (usually a file) and what was expected. */
public final class FormatException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String source;

    public FormatException(String source, String problem) {
        super(source + ": " + problem);
        this.source = source;
    }

    public FormatException(String source, String problem, Throwable cause) {
        super(source + ": " + problem, cause);
        this.source = source;
    }

    /** The file or other origin that was being read. */
    public String source() {
        return source;
    }
}
