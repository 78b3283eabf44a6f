// Configuration keys as nanoGPT resolves them: defaults in code, then a properties file, then
// --key=value; every value is checked against its default's type and every key must be known.
package sparkgpt.driver.config;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeSet;

/**
 * The overrides given by the user and where each came from. A config record reads its keys with
 * {@link #get} and their {@link Key} declarations; {@link #finish} then rejects any key
 * that no record read, and {@link #describe} lists the resolved values in reading order.
 */
public final class Settings {
    private final Map<String, String> values = new LinkedHashMap<>();
    private final Map<String, String> origin = new LinkedHashMap<>();
    private final Map<String, String> resolved = new LinkedHashMap<>();

    /** Parses {@code [FILE.properties] [--key=value ...]}; flags without a value (--debug) are skipped. */
    public static Settings parse(List<String> args) {
        Settings s = new Settings();
        for (String arg : args) {
            if (arg.startsWith("--")) {
                int eq = arg.indexOf('=');
                if (eq < 0) {
                    if (arg.equals("--debug") || arg.equals("--check")) continue;
                    throw new UserError("argument " + arg + ": expected --key=value");
                }
                s.put(arg.substring(2, eq).trim(), arg.substring(eq + 1).trim(), "command line");
            } else {
                s.load(Path.of(arg));
            }
        }
        return s;
    }

    /** Loads key = value lines (java.util.Properties syntax, # comments); later sources override earlier ones. */
    public Settings load(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new UserError("config file " + file + " does not exist (expected a .properties file of key = value lines)");
        }
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            return load(r, file.toString(), true);
        } catch (IOException | IllegalArgumentException e) {
            throw new UserError("cannot read config file " + file + ": " + e.getMessage());
        }
    }

    /**
     * Adds the keys of a classpath resource that nothing else set (a config file built into the jar, so
     * that the same keys resolve to the same values on any machine that runs the driver).
     */
    public Settings loadDefaults(String resource) {
        try (java.io.InputStream in = Settings.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) throw new IllegalStateException(resource + " is missing from the driver jar");
            return load(new java.io.InputStreamReader(in, StandardCharsets.UTF_8),
                    resource + ", built in: no config file named", false);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + resource + " from the driver jar", e);
        }
    }

    private Settings load(Reader r, String source, boolean override) throws IOException {
        Properties p = new Properties();
        p.load(r);
        for (String k : new TreeSet<>(p.stringPropertyNames())) {
            if (override || !has(k)) put(k, p.getProperty(k).trim(), source);
        }
        return this;
    }

    public Settings put(String key, String value, String source) {
        values.put(key, value);
        origin.put(key, source);
        return this;
    }

    public boolean has(String key) {
        return values.containsKey(key);
    }

    /** The key's value: given (parsed and checked against its range) or its default; recorded for {@link #describe}. */
    public <T> T get(Key<T> key) {
        String v = values.get(key.name());
        T x = v == null ? key.checkedDefault(this) : key.parse(this, v);
        resolved.put(key.name(), String.valueOf(x));
        return x;
    }

    /** Fails on the first key that no config record read, suggesting the nearest known one. */
    public void finish(String command) {
        for (String k : values.keySet()) {
            if (!resolved.containsKey(k)) {
                String near = nearest(k, resolved.keySet());
                throw new UserError("unknown key '" + k + "' (from " + origin.get(k) + ") for command '" + command + "'"
                        + (near != null ? ": did you mean '" + near + "'?" : "") + "; known keys: "
                        + String.join(", ", resolved.keySet()));
            }
        }
    }

    /** The known key within two edits (insertions, deletions, substitutions, swaps of neighbours) of key, or null. */
    static String nearest(String key, Iterable<String> known) {
        String best = null;
        int bestDistance = 3;
        for (String k : known) {
            int d = editDistance(key, k);
            if (d < bestDistance) {
                best = k;
                bestDistance = d;
            }
        }
        return best;
    }

    /** Damerau-Levenshtein distance (optimal string alignment): "inptu" is one swap from "input". */
    static int editDistance(String a, String b) {
        int[][] d = new int[a.length() + 1][b.length() + 1];
        for (int i = 0; i <= a.length(); i++) d[i][0] = i;
        for (int j = 0; j <= b.length(); j++) d[0][j] = j;
        for (int i = 1; i <= a.length(); i++) {
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                d[i][j] = Math.min(Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
                if (i > 1 && j > 1 && a.charAt(i - 1) == b.charAt(j - 2) && a.charAt(i - 2) == b.charAt(j - 1)) {
                    d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
                }
            }
        }
        return d[a.length()][b.length()];
    }

    /** The resolved configuration, one {@code key = value} per line, marking the overridden ones. */
    public String describe() {
        List<String> lines = new ArrayList<>();
        int width = resolved.keySet().stream().mapToInt(String::length).max().orElse(0);
        for (Map.Entry<String, String> e : resolved.entrySet()) {
            String src = origin.get(e.getKey());
            lines.add(String.format("  %-" + width + "s = %s%s", e.getKey(), e.getValue(),
                    src == null ? "" : "   (" + src + ")"));
        }
        return String.join("\n", lines);
    }

    /** Every key read so far and its resolved value, in reading order (a copy). */
    public Map<String, String> resolved() {
        return new LinkedHashMap<>(resolved);
    }

    /**
     * Fails with a message naming the key, the value and the expectation; when the key was not given but a
     * key one or two typos away from it was (prepare --inptu=x), that unknown key is the error.
     */
    public UserError bad(String key, Object value, String expected) {
        if (!values.containsKey(key)) {
            for (String given : values.keySet()) {
                if (!resolved.containsKey(given) && editDistance(given, key) <= 2) {
                    return new UserError("unknown key '" + given + "' (from " + origin.get(given) + "): did you mean '"
                            + key + "'?");
                }
            }
        }
        String src = origin.get(key);
        return new UserError(key + " = " + value + (src == null ? "" : " (from " + src + ")") + ": expected " + expected);
    }
}
