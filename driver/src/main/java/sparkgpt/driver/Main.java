// The launcher's entry point: `sparkgpt <command> [FILE.properties] [--key=value ...]`.
package sparkgpt.driver;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.spark.api.java.JavaSparkContext;

public final class Main {
    private Main() {}

    static final String USAGE = String.join("\n",
            "usage: sparkgpt <command> [FILE.properties] [--key=value ...] [--debug]",
            "  prepare --input=PATH[,PATH...] --output=DIR [--tokenizer=gpt2|byte] [--val_fraction=0.1] [--format=text|europarl]",
            "  train   [conf/X.properties] [--key=value ...]   (no file: conf/default.properties)",
            "  sample  --checkpoint=DIR [--prompt=TEXT] [--max_new_tokens=200] [--temperature=0.8] [--top_k=200] [--seed=1337]",
            "  eval    --checkpoint=DIR --data=DIR [--block_size=0] [--batch_size=8] [--eval_batches=0]",
            "  bench   [--steps=5] [--warmup=1] [--data=synthetic|DIR] [--vs_torch=false] [--rounds=3] [train keys]",
            "          (tokens/s, GFLOP/s, MFU and the step's time split; defaults: conf/bench.properties' model)",
            "  plot    --run=DIR[,DIR...] [--output=loss.png]   (train and val loss of each run's metrics.jsonl)",
            "keys and their defaults are printed at the start of every command.");

    public static void main(String[] args) {
        System.exit(exitCode(args, System.err));
    }

    /** Runs a command: 0 when it succeeded, 2 after an error the user can fix (one line on err), 1 otherwise. */
    static int exitCode(String[] args, PrintStream err) {
        boolean debug = Arrays.asList(args).contains("--debug");
        UserError.stackTraces = debug;
        try {
            return run(args);
        } catch (Throwable e) {
            UserError user = userError(e);
            int code;
            if (user != null) {
                err.println("sparkgpt: " + user.getMessage());
                code = 2;
            } else {
                err.println("sparkgpt: " + e + (debug ? "" : "  (rerun with --debug for the stack trace)"));
                code = 1;
            }
            if (debug) e.printStackTrace(err);
            return code;
        }
    }

    static int run(String[] args) {
        if (args.length == 0 || args[0].equals("help") || args[0].equals("--help")) {
            System.out.println(USAGE);
            return args.length == 0 ? 2 : 0;
        }
        String command = args[0];
        List<String> rest = new ArrayList<>(Arrays.asList(args).subList(1, args.length));
        switch (command) {
            case "prepare": {
                Settings s = Settings.parse(rest);
                PrepareConfig cfg = PrepareConfig.from(s);
                s.finish(command);
                System.out.println("prepare:\n" + s.describe());
                try (JavaSparkContext sc = SparkSetup.context(cfg.master(), "sparkgpt prepare", Map.of())) {
                    Prepare.run(sc, cfg);
                }
                return 0;
            }
            case "train": {
                if (rest.stream().noneMatch(a -> !a.startsWith("--"))) {
                    Path def = Path.of(System.getProperty("sparkgpt.home", "."), "conf", "default.properties");
                    if (Files.isRegularFile(def)) rest.add(0, def.toString());
                }
                Settings s = Settings.parse(rest);
                TrainConfig cfg = TrainConfig.from(s);
                s.finish(command);
                System.out.println("train:\n" + s.describe());
                try (JavaSparkContext sc = SparkSetup.context(cfg.master(), "sparkgpt train", Map.of())) {
                    Trainer.train(sc, cfg);
                }
                return 0;
            }
            case "bench": {
                Settings s = Settings.parse(rest);
                Bench.Config cfg = Bench.Config.from(s);
                s.finish(command);
                System.out.println("bench:\n" + s.describe());
                try (JavaSparkContext sc = SparkSetup.context(cfg.train().master(), "sparkgpt bench", Map.of())) {
                    Bench.run(sc, cfg, s);
                } catch (java.io.IOException e) {
                    throw new UserError("bench: " + e.getMessage(), e);
                }
                return 0;
            }
            case "sample": { // no Spark: one sequence on this machine
                Settings s = Settings.parse(rest);
                Sample.Config cfg = Sample.Config.from(s);
                s.finish(command);
                System.err.println("sample:\n" + s.describe()); // stdout carries only the text
                Sample.run(cfg, System.out);
                return 0;
            }
            case "eval": {
                Settings s = Settings.parse(rest);
                Evaluate.Config cfg = Evaluate.Config.from(s);
                s.finish(command);
                System.out.println("eval:\n" + s.describe());
                try (JavaSparkContext sc = SparkSetup.context(cfg.master(), "sparkgpt eval", Map.of())) {
                    Evaluate.run(sc, cfg);
                }
                return 0;
            }
            case "plot": { // no Spark: reads metrics.jsonl, writes a PNG
                Settings s = Settings.parse(rest);
                String runs = s.string("run", "");
                String output = s.string("output", "loss.png");
                s.finish(command);
                if (runs.isBlank()) throw new UserError("plot needs --run=DIR[,DIR...]: train out_dirs holding metrics.jsonl");
                LossPlot.write(new org.apache.hadoop.conf.Configuration(), Arrays.asList(runs.split(",")), output);
                System.out.println("wrote " + output);
                return 0;
            }
            default:
                throw new UserError("unknown command '" + command + "'\n" + USAGE);
        }
    }

    /** The UserError behind e, also when Spark wrapped one thrown in a task. */
    static UserError userError(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof UserError u) return u;
        }
        String m = String.valueOf(e.getMessage());
        int at = m.indexOf(UserError.class.getName() + ": ");
        if (at >= 0) {
            String msg = m.substring(at + UserError.class.getName().length() + 2);
            int nl = msg.indexOf('\n');
            return new UserError(nl < 0 ? msg : msg.substring(0, nl));
        }
        return null;
    }
}
