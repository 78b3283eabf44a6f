// An error the user can fix (a key, a value, a file): Main prints its message alone, without a stack trace.
package sparkgpt.driver.config;


public final class UserError extends RuntimeException {
    /**
     * Whether a UserError records where it was thrown: off unless Main's --debug turns it on. Off, the
     * same error thrown in a Spark task reaches Spark's task-failure log lines as its message alone.
     */
    public static volatile boolean stackTraces = false;

    public UserError(String message) {
        this(message, null);
    }

    public UserError(String message, Throwable cause) {
        super(message, cause, true, stackTraces);
    }
}
