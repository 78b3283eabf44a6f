// `sparkgpt <command> --help` and deploy/README.md's key tables, both printed from the keys' declarations
// (name, default, meaning) and from the built-in files that give some commands other defaults.
package sparkgpt.driver.cli;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Stream;
import sparkgpt.driver.bench.Bench;
import sparkgpt.driver.checkpoint.LossPlot;
import sparkgpt.driver.config.Key;
import sparkgpt.driver.config.KeyGroup;
import sparkgpt.driver.config.TrainConfig;
import sparkgpt.driver.config.UserError;
import sparkgpt.driver.data.PrepareConfig;
import sparkgpt.driver.train.Evaluate;

public final class Help {
    private Help() {}

    /**
     * A command: how it is called, what it does, its keys, and the defaults other than the keys' own that
     * apply to it (a built-in file's, then its own), each with where it comes from.
     */
    record Command(String name, String usage, String summary, List<KeyGroup> groups, String builtInFile,
                   Map<String, String> ownDefaults) {
        /** key -> (default, where it comes from), for the keys whose default here is not the key's own. */
        Map<String, String[]> overrides() {
            Map<String, String[]> o = new LinkedHashMap<>();
            if (builtInFile != null) {
                Properties p = builtIn(builtInFile);
                for (String k : p.stringPropertyNames()) o.put(k, new String[] {p.getProperty(k).trim(), builtInFile});
            }
            ownDefaults.forEach((k, v) -> o.put(k, new String[] {v, name + "'s own"}));
            return o;
        }
    }

    static final List<Command> COMMANDS = List.of(
            new Command("prepare", "sparkgpt prepare --input=PATH[,PATH...] --output=DIR [--key=value ...]",
                    "Tokenizes text into llm.c-format shards (uint16 tokens) and meta.json, documents spread over Spark"
                            + " tasks; the last val_fraction of the tokens becomes the val split.",
                    PrepareConfig.GROUPS, null, Map.of()),
            new Command("train", "sparkgpt train [FILE.properties] [--key=value ...]",
                    "Trains a GPT-2-style model on a prepared directory, one Spark job per optimizer step. Keys come from"
                            + " their defaults, then FILE (none named: " + Main.DEFAULT_TRAIN_CONFIG + ", built in),"
                            + " then --key=value.",
                    TrainConfig.GROUPS, Main.DEFAULT_TRAIN_CONFIG, Map.of()),
            new Command("eval", "sparkgpt eval --checkpoint=DIR --data=DIR [--key=value ...]",
                    "A model's mean loss and perplexity on a data directory's val split, forward only, on Spark.",
                    Evaluate.Config.GROUPS, null, Map.of()),
            new Command("sample", "sparkgpt sample --checkpoint=DIR [--prompt=TEXT] [--key=value ...]",
                    "Text from a model, token by token, on this machine (no Spark), as nanoGPT's sample.py.",
                    sparkgpt.driver.cli.Sample.Config.GROUPS, null, Map.of()),
            new Command("bench", "sparkgpt bench [--steps=5] [--warmup=1] [--vs_torch=false] [train keys ...]",
                    "Times warmup + steps training steps through the same Spark step as train and prints tokens/s,"
                            + " GFLOP/s, MFU and the step's time split (medians); optionally against PyTorch.",
                    Stream.concat(Bench.Config.GROUPS.stream(), TrainConfig.GROUPS.stream()).toList(), Bench.MODEL,
                    Bench.RUN_DEFAULTS),
            new Command("plot", "sparkgpt plot --run=DIR[,DIR...] [--output=loss.png]",
                    "Draws the train and val loss of each run's metrics.jsonl against step and tokens seen.",
                    LossPlot.GROUPS, null, Map.of()));

    /** The commands, one usage line each. */
    static String usage() {
        StringBuilder s = new StringBuilder("usage: sparkgpt <command> [FILE.properties] [--key=value ...] [--check] [--debug]\n");
        for (Command c : COMMANDS) s.append("  ").append(c.usage()).append('\n');
        s.append("  help [COMMAND]\n");
        s.append("sparkgpt <command> --help lists a command's keys, their defaults and meanings; --check resolves and\n")
                .append("checks them, prints them and stops; --debug adds stack traces to errors.");
        return s.toString();
    }

    static Command command(String name) {
        for (Command c : COMMANDS) if (c.name().equals(name)) return c;
        throw new UserError("unknown command '" + name + "'\n" + usage());
    }

    /** `sparkgpt <name> --help`: the usage, what it does, then each group's keys with default and meaning. */
    static String text(String name) {
        Command c = command(name);
        Map<String, String[]> overrides = c.overrides();
        StringBuilder s = new StringBuilder("usage: ").append(c.usage()).append("\n\n");
        s.append(wrap(c.summary(), 100, "")).append('\n');
        int width = c.groups().stream().flatMap(g -> g.keys().stream()).mapToInt(k -> k.name().length()).max().orElse(0);
        int defWidth = c.groups().stream().flatMap(g -> g.keys().stream())
                .mapToInt(k -> defaultOf(k, overrides).length()).max().orElse(0);
        defWidth = Math.min(defWidth, 16);
        String indent = " ".repeat(2 + width + 2 + defWidth + 2);
        for (KeyGroup g : c.groups()) {
            s.append('\n').append(g.title()).append('\n');
            for (Key<?> k : g.keys()) {
                String def = defaultOf(k, overrides);
                String meaning = k.meaning() + note(k, overrides);
                String head = String.format("  %-" + width + "s  %-" + defWidth + "s  ", k.name(), def);
                if (head.length() > indent.length()) { // a long default: the meaning on the next line
                    s.append(head.stripTrailing()).append('\n').append(wrap(meaning, 100, indent)).append('\n');
                } else {
                    s.append(head).append(wrap(meaning, 100, indent).substring(indent.length())).append('\n');
                }
            }
        }
        return s.toString();
    }

    /** A command's keys as a Markdown table: key, default, meaning; a row per group title. */
    static String markdown(String name) {
        Command c = command(name);
        Map<String, String[]> overrides = c.overrides();
        StringBuilder s = new StringBuilder("| key | default | meaning |\n|---|---|---|\n");
        for (KeyGroup g : c.groups()) {
            s.append("| **").append(g.title()).append("** | | |\n");
            for (Key<?> k : g.keys()) {
                s.append("| `").append(k.name()).append("` | `").append(defaultOf(k, overrides)).append("` | ")
                        .append((k.meaning() + note(k, overrides)).replace("|", "\\|")).append(" |\n");
            }
        }
        return s.toString();
    }

    static final String BEGIN = "<!-- keys of ", END = "<!-- end of keys -->";

    /**
     * The text with every {@code <!-- keys of COMMAND ... -->} ... {@code <!-- end of keys -->} block replaced by
     * that command's table as {@link #markdown} prints it now.
     */
    static String withTables(String text) {
        StringBuilder out = new StringBuilder();
        int at = 0;
        for (int b; (b = text.indexOf(BEGIN, at)) >= 0; ) {
            int lineEnd = text.indexOf('\n', b);
            int e = text.indexOf(END, lineEnd);
            if (lineEnd < 0 || e < 0) throw new UserError("a '" + BEGIN + "' block has no '" + END + "'");
            String name = text.substring(b + BEGIN.length(), lineEnd).trim().split("[ \t]")[0];
            out.append(text, at, lineEnd + 1).append(markdown(name));
            at = e;
        }
        return out.append(text.substring(at)).toString();
    }

    /** `sparkgpt help --readme=FILE`: rewrites FILE's key tables from the declarations. */
    static void updateTables(Path file) {
        try {
            String text = Files.readString(file, StandardCharsets.UTF_8);
            String updated = withTables(text);
            if (!updated.equals(text)) Files.writeString(file, updated, StandardCharsets.UTF_8);
            System.out.println((updated.equals(text) ? "up to date: " : "rewrote the key tables of ") + file);
        } catch (IOException e) {
            throw new UserError("cannot rewrite " + file + ": " + e.getMessage());
        }
    }

    private static String defaultOf(Key<?> k, Map<String, String[]> overrides) {
        String[] o = overrides.get(k.name());
        return o != null ? o[0] : k.shownDefault();
    }

    /** Where an overridden default comes from, and the key's own. */
    private static String note(Key<?> k, Map<String, String[]> overrides) {
        String[] o = overrides.get(k.name());
        return o == null ? "" : " [default from " + o[1] + "; the key's own: " + k.shownDefault() + "]";
    }

    /** Words wrapped at width columns; every line starts with indent. */
    static String wrap(String text, int width, String indent) {
        List<String> lines = new ArrayList<>();
        StringBuilder line = new StringBuilder(indent);
        for (String word : text.split(" ")) {
            if (line.length() > indent.length() && line.length() + 1 + word.length() > width) {
                lines.add(line.toString());
                line = new StringBuilder(indent);
            }
            if (line.length() > indent.length()) line.append(' ');
            line.append(word);
        }
        lines.add(line.toString());
        return String.join("\n", lines);
    }

    /** A properties file built into the driver jar. */
    static Properties builtIn(String resource) {
        Properties p = new Properties();
        try (InputStream in = Help.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) throw new IllegalStateException(resource + " is missing from the driver jar");
            p.load(new java.io.InputStreamReader(in, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + resource + " from the driver jar", e);
        }
        return p;
    }
}
