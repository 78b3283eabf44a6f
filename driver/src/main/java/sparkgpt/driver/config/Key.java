// One configuration key, declared once: its name, default, meaning and valid values. The config
// records read their keys through these declarations, and `--help` and deploy/README.md's key
// tables are printed from the same ones, so a default, its reason and its check cannot drift apart.
package sparkgpt.driver.config;

import java.util.List;
import java.util.Locale;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * A key of type T. {@link Settings#get} parses the given text (or takes the default), checks it against
 * {@link #valid} and fails with {@code key = value (from source): expected ...} naming what was wrong.
 */
public final class Key<T> {
    private final String name;
    private final Supplier<T> defaultValue;
    private final String meaning;
    private final Function<String, T> parse;
    private final String type;            // what a value that does not parse should have been
    private Predicate<T> valid = x -> true;
    private String expected;              // what a value out of range should have been
    private String shownDefault;          // the default as help prints it, where the value alone would mislead

    private Key(String name, Supplier<T> defaultValue, String meaning, Function<String, T> parse, String type) {
        this.name = name;
        this.defaultValue = defaultValue;
        this.meaning = meaning;
        this.parse = parse;
        this.type = type;
        this.expected = type;
    }

    public static Key<Integer> integer(String name, int def, String meaning) {
        return new Key<>(name, () -> def, meaning, v -> Integer.parseInt(v.replace("_", "")), "an integer");
    }

    public static Key<Long> longInteger(String name, long def, String meaning) {
        return new Key<>(name, () -> def, meaning, v -> Long.parseLong(v.replace("_", "")), "an integer");
    }

    public static Key<Double> real(String name, double def, String meaning) {
        return new Key<Double>(name, () -> def, meaning, v -> {
            double d = Double.parseDouble(v.replace("_", ""));
            if (!Double.isFinite(d)) throw new NumberFormatException(v);
            return d;
        }, "a number (e.g. 6e-4)");
    }

    public static Key<Boolean> bool(String name, boolean def, String meaning) {
        return new Key<>(name, () -> def, meaning, v -> switch (v.toLowerCase(Locale.ROOT)) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new IllegalArgumentException(v);
        }, "true or false");
    }

    public static Key<String> string(String name, String def, String meaning) {
        return new Key<>(name, () -> def, meaning, v -> v, "a string");
    }

    /** A string whose default is computed when it is read (e.g. the master spark-submit set). */
    public static Key<String> string(String name, Supplier<String> def, String shown, String meaning) {
        Key<String> k = new Key<>(name, def, meaning, v -> v, "a string");
        k.shownDefault = shown;
        return k;
    }

    /** A string that must be one of choices; the first is not implied: def names the default. */
    public static Key<String> choice(String name, String def, String meaning, String... choices) {
        List<String> allowed = List.of(choices);
        if (!allowed.contains(def)) throw new IllegalArgumentException(name + ": default " + def + " is not a choice");
        return new Key<>(name, () -> def, meaning, v -> v, "one of " + String.join(", ", choices))
                .check(allowed::contains, "one of " + String.join(", ", choices));
    }

    /** Values must satisfy valid; expected says what they should have been ("an integer >= 1"). */
    public Key<T> check(Predicate<T> valid, String expected) {
        this.valid = valid;
        this.expected = expected;
        return this;
    }

    /** The default as help and the key tables print it, when its value alone would mislead. */
    public Key<T> shown(String text) {
        this.shownDefault = text;
        return this;
    }

    /** An integer key's lower bound: expected "a positive integer" (1) or "an integer >= lo". */
    public static Predicate<Integer> atLeast(int lo) {
        return x -> x >= lo;
    }

    public String name() {
        return name;
    }

    public String meaning() {
        return meaning;
    }

    public String expected() {
        return expected;
    }

    public T defaultValue() {
        return defaultValue.get();
    }

    /** The default as a user would type it (help, key tables). */
    public String shownDefault() {
        if (shownDefault != null) return shownDefault;
        return show(defaultValue.get());
    }

    /** A value as a user would type it: 1e-4 rather than 1.0E-4, (none) for an empty string. */
    static String show(Object value) {
        String s = String.valueOf(value);
        if (value instanceof Double) s = s.replace(".0E", "E").replace("E", "e");
        return s.isEmpty() ? "(none)" : s;
    }

    /** The value given as text: parsed (else the type's message) and checked (else the range's message). */
    T parse(Settings s, String text) {
        T v;
        try {
            v = parse.apply(text);
        } catch (IllegalArgumentException e) { // NumberFormatException included
            throw s.bad(name, text, type);
        }
        if (!valid.test(v)) throw s.bad(name, text, expected);
        return v;
    }

    /** The default, checked like a given value: a default out of its own range is a bug, caught by the key tests. */
    T checkedDefault(Settings s) {
        T v = defaultValue.get();
        if (!valid.test(v)) throw s.bad(name, shownDefault(), expected);
        return v;
    }
}
