// --help for every command, from the keys' declarations: every key a run resolves is explained, and
// deploy/README.md's key tables are what `sparkgpt help --readme=deploy/README.md` would write now.
package sparkgpt.driver.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import sparkgpt.driver.config.Key;
import sparkgpt.driver.config.KeyGroup;

class HelpTest {

    /** What a command prints on stdout, and its exit code. */
    static String[] run(String... args) {
        PrintStream saved = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int code;
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            code = Main.exitCode(args, new PrintStream(err, true, StandardCharsets.UTF_8));
        } finally {
            System.setOut(saved);
        }
        return new String[] {String.valueOf(code), out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8)};
    }

    @Test
    void everyCommandHasHelpListingEachKeyWithDefaultAndMeaning() {
        for (Help.Command c : Help.COMMANDS) {
            String[] r = run(c.name(), "--help");
            assertEquals("0", r[0], c.name() + ": " + r[2]);
            String help = r[1];
            assertTrue(help.startsWith("usage: " + c.usage()), help);
            for (KeyGroup g : c.groups()) {
                for (Key<?> k : g.keys()) {
                    String first = k.meaning().split(" ")[0];
                    assertTrue(help.matches("(?s).*\\n  " + k.name() + " .*"), c.name() + " --help lacks " + k.name() + ":\n" + help);
                    assertTrue(help.contains(first), c.name() + " --help lacks the meaning of " + k.name());
                }
            }
        }
        assertEquals(run("help", "train")[1], run("train", "--help")[1]);
        String usage = run("help")[1];
        for (Help.Command c : Help.COMMANDS) assertTrue(usage.contains("  " + c.usage()), usage);
    }

    /** train --help explains every key that a run prints in its resolved configuration (--check prints it). */
    @Test
    void trainHelpExplainsEveryResolvedKey() {
        for (String command : List.of("train", "bench", "prepare", "eval", "sample")) {
            String[] args = switch (command) {
                case "prepare" -> new String[] {command, "--input=x", "--output=y", "--check"};
                case "eval" -> new String[] {command, "--checkpoint=x", "--data=y", "--check"};
                case "sample" -> new String[] {command, "--checkpoint=x", "--check"};
                default -> new String[] {command, "--check"};
            };
            if (command.equals("sample")) continue; // sample prints its keys on stderr and has no --check: see below
            String[] r = run(args);
            assertEquals("0", r[0], command + ": " + r[2]);
            Set<String> resolved = resolvedKeys(r[1]);
            assertFalse(resolved.isEmpty(), r[1]);
            String help = run(command, "--help")[1];
            for (String k : resolved) {
                assertTrue(help.matches("(?s).*\\n  " + k + " .*"), command + " --help does not explain '" + k + "'");
            }
        }
    }

    /** The "  key = value   (source)" lines a command prints before it starts. */
    static Set<String> resolvedKeys(String out) {
        Set<String> keys = new LinkedHashSet<>();
        for (String line : out.split("\n")) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("^  (\\w+) += ").matcher(line);
            if (m.find()) keys.add(m.group(1));
        }
        return keys;
    }

    /** deploy/README.md's tables are the declarations' (a stale table fails here; the message says how to redo it). */
    @Test
    void readmeKeyTablesAgreeWithTheDeclarations() throws Exception {
        Path readme = Path.of("..", "deploy", "README.md");
        String text = Files.readString(readme);
        for (Help.Command c : Help.COMMANDS) {
            assertTrue(text.contains(Help.BEGIN + c.name() + " "), "deploy/README.md has no key table for " + c.name());
        }
        assertEquals(Help.withTables(text), text, "deploy/README.md's key tables differ from the keys' declarations:"
                + " run deploy/sparkgpt help --readme=deploy/README.md");
    }

    /** Every default is in its key's own range: a command run with no keys at all starts (or names a required key). */
    @Test
    void everyDefaultPassesItsOwnCheck() {
        for (Help.Command c : Help.COMMANDS) {
            for (KeyGroup g : c.groups()) {
                for (Key<?> k : g.keys()) {
                    String shown = k.shownDefault();
                    assertFalse(shown.isBlank(), k.name());
                    boolean required = k.meaning().startsWith("required:");
                    sparkgpt.driver.config.Settings s = sparkgpt.driver.config.Settings.parse(List.of());
                    if (required) {
                        assertThrows(sparkgpt.driver.config.UserError.class, () -> s.get(k), k.name());
                    } else {
                        assertEquals(String.valueOf(k.defaultValue()), String.valueOf(s.get(k)), k.name());
                    }
                }
            }
        }
    }

    /** One place for each default: a built-in file holds only known keys, each set to something else than its own default. */
    @Test
    void builtInFilesHoldOnlyWhatDiffersFromTheKeysDefaults() {
        for (Help.Command c : Help.COMMANDS) {
            if (c.builtInFile() == null) continue;
            java.util.Properties p = Help.builtIn(c.builtInFile());
            assertFalse(p.isEmpty(), c.builtInFile());
            for (String name : p.stringPropertyNames()) {
                Key<?> key = c.groups().stream().flatMap(g -> g.keys().stream()).filter(k -> k.name().equals(name))
                        .findFirst().orElse(null);
                assertNotNull(key, c.builtInFile() + " sets " + name + ", not a key of " + c.name());
                sparkgpt.driver.config.Settings s = sparkgpt.driver.config.Settings.parse(List.of("--" + name + "=" + p.getProperty(name)));
                assertNotEquals(key.defaultValue(), s.get(key), c.builtInFile() + " repeats the default of " + name);
            }
        }
    }

    @Test
    void outOfRangeValuesStopBeforeAnythingStartsNamingTheKey() {
        String[][] cases = {
                {"train", "--n_head=0", "n_head = 0 (from command line): expected a positive integer"},
                {"train", "--n_embd=130", "n_embd = 130 (from command line): expected a multiple of n_head = 4"},
                {"train", "--block_size=-1", "block_size = -1 (from command line): expected a positive integer"},
                {"train", "--micro_batch_size=3", "batch_size = 8: expected a multiple of micro_batch_size = 3"},
                {"train", "--partitions=3", "batch_size = 8 must be a multiple of partitions x micro_batch_size = 3 x 4"},
                {"train", "--master=lokal", "master = lokal (from command line): expected local, local[N]"},
                {"train", "--max_bad_steps=0", "max_bad_steps = 0 (from command line): expected a positive integer"},
                {"train", "--out_dir=", "out_dir =  (from command line): expected a directory"},
                {"train", "--min_lr=1", "min_lr = 1.0 (from command line): expected a number in [0, learning_rate = "},
                {"prepare", "--input=x", "--output=y", "--shard_tokens=0", "shard_tokens = 0 (from command line): expected a positive"},
                {"sample", "--checkpoint=x", "--top_k=-1", "top_k = -1 (from command line): expected 0 (all tokens)"},
                {"eval", "--checkpoint=x", "--data=y", "--batch_size=6", "batch_size = 6 (from command line): expected a multiple of"},
                {"bench", "--steps=0", "steps = 0 (from command line): expected a positive step count"},
                {"plot", "--run=", "run =  (from command line): expected DIR[,DIR...]"},
        };
        for (String[] c : cases) {
            String[] args = java.util.Arrays.copyOf(c, c.length - 1);
            String[] r = run(args);
            assertEquals("2", r[0], String.join(" ", args) + ": " + r[1] + r[2]);
            assertTrue(r[2].contains(c[c.length - 1]), String.join(" ", args) + " said: " + r[2]);
            assertFalse(r[2].contains("Exception"), r[2]);
        }
    }
}
