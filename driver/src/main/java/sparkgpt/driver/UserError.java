// An error the user can fix (a key, a value, a file): Main prints its message alone, without a stack trace.
package sparkgpt.driver;

public final class UserError extends RuntimeException {
    public UserError(String message) {
        super(message);
    }

    public UserError(String message, Throwable cause) {
        super(message, cause);
    }
}
