// The launcher's entry point: `sparkgpt <command> [FILE.properties] [--key=value ...]`.
package sparkgpt.driver.cli;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.spark.api.java.JavaSparkContext;
import sparkgpt.driver.bench.Bench;
import sparkgpt.driver.checkpoint.LossPlot;
import sparkgpt.driver.config.Settings;
import sparkgpt.driver.config.TrainConfig;
import sparkgpt.driver.config.UserError;
import sparkgpt.driver.data.Prepare;
import sparkgpt.driver.data.PrepareConfig;
import sparkgpt.driver.train.Evaluate;
import sparkgpt.driver.train.SparkSetup;
import sparkgpt.driver.train.Trainer;

public final class Main {
    private Main() {}

    /**
     * What `train` applies when no config file is named, whichever launcher runs it (deploy/sparkgpt,
     * deploy/submit, spark-submit in cluster mode on a node that has no conf/): conf/default.properties,
     * built into the driver jar.
     */
    public static final String DEFAULT_TRAIN_CONFIG = "conf/default.properties";

    /**
     * Exits with {@link #exitCode}'s status, except in YARN cluster mode: there Spark's ApplicationMaster
     * runs this method in a thread and reports the application's final status only after it returns;
     * an exit before that reads as a crash ("Shutdown hook called before final status was reported")
     * and YARN runs the whole application again. So there it returns on success and throws on failure,
     * which the AM reports as FAILED with the one-line reason as the application's diagnostics.
     */
    public static void main(String[] args) {
        Outcome outcome = outcome(args, System.err);
        if (!yarnClusterMode()) System.exit(outcome.code());
        if (outcome.code() != 0) throw new IllegalStateException(outcome.message());
    }

    /** True in the driver of a YARN cluster-mode application (spark-submit --master yarn --deploy-mode cluster). */
    static boolean yarnClusterMode() {
        return "cluster".equals(System.getProperty("spark.submit.deployMode"))
                && System.getProperty("spark.master", "").startsWith("yarn");
    }

    /** A command's exit status and, when it failed, the one line that says why. */
    record Outcome(int code, String message) {}

    /** Runs a command: 0 when it succeeded, 2 after an error the user can fix (one line on err), 1 otherwise. */
    public static int exitCode(String[] args, PrintStream err) {
        return outcome(args, err).code();
    }

    static Outcome outcome(String[] args, PrintStream err) {
        boolean debug = Arrays.asList(args).contains("--debug");
        UserError.stackTraces = debug;
        try {
            return new Outcome(run(args), null);
        } catch (Throwable e) {
            UserError user = userError(e);
            Outcome failed = user != null ? new Outcome(2, "sparkgpt: " + user.getMessage())
                    : new Outcome(1, "sparkgpt: " + e + (debug ? "" : "  (rerun with --debug for the stack trace)"));
            err.println(failed.message());
            if (debug) e.printStackTrace(err);
            return failed;
        }
    }

    static int run(String[] args) {
        if (args.length == 0 || args[0].equals("--help")) {
            System.out.println(Help.usage());
            return args.length == 0 ? 2 : 0;
        }
        String command = args[0];
        List<String> rest = new ArrayList<>(Arrays.asList(args).subList(1, args.length));
        if (command.equals("help")) { // help, help COMMAND, help --readme=FILE (rewrites its key tables)
            if (rest.isEmpty()) System.out.println(Help.usage());
            else if (rest.get(0).startsWith("--readme=")) Help.updateTables(java.nio.file.Path.of(rest.get(0).substring(9)));
            else System.out.print(Help.text(rest.get(0)));
            return 0;
        }
        if (rest.contains("--help")) {
            System.out.print(Help.text(command));
            return 0;
        }
        // --check: resolve and validate the keys, print them, start nothing (deploy/submit runs this first)
        boolean check = rest.remove("--check");
        switch (command) {
            case "prepare": {
                Settings s = Settings.parse(rest);
                PrepareConfig cfg = resolve(command, s, PrepareConfig::from, System.out);
                if (check) return 0;
                try (JavaSparkContext sc = SparkSetup.context(cfg.master(), "sparkgpt prepare", Map.of())) {
                    Prepare.run(sc, cfg);
                }
                return 0;
            }
            case "train": {
                Settings s = Settings.parse(rest);
                if (rest.stream().noneMatch(a -> !a.startsWith("--"))) s.loadDefaults(DEFAULT_TRAIN_CONFIG);
                TrainConfig cfg = resolve(command, s, TrainConfig::from, System.out);
                if (check) return 0;
                try (JavaSparkContext sc = SparkSetup.context(cfg.cluster().master(), "sparkgpt train", Map.of())) {
                    Trainer.train(sc, cfg);
                }
                return 0;
            }
            case "bench": {
                Settings s = Settings.parse(rest);
                Bench.Config cfg = resolve(command, s, Bench.Config::from, System.out);
                if (check) return 0;
                try (JavaSparkContext sc = SparkSetup.context(cfg.train().cluster().master(), "sparkgpt bench", Map.of())) {
                    Bench.run(sc, cfg, s);
                } catch (java.io.IOException e) {
                    throw new UserError("bench: " + e.getMessage(), e);
                }
                return 0;
            }
            case "sample": { // no Spark: one sequence on this machine
                Sample.Config cfg = resolve(command, Settings.parse(rest), Sample.Config::from,
                        System.err); // stdout carries only the text
                Sample.run(cfg, System.out);
                return 0;
            }
            case "eval": {
                Evaluate.Config cfg = resolve(command, Settings.parse(rest), Evaluate.Config::from, System.out);
                if (check) return 0;
                try (JavaSparkContext sc = SparkSetup.context(cfg.master(), "sparkgpt eval", Map.of())) {
                    Evaluate.run(sc, cfg);
                }
                return 0;
            }
            case "plot": { // no Spark: reads metrics.jsonl, writes a PNG
                Settings s = Settings.parse(rest);
                String runs = s.get(LossPlot.RUN);
                String output = s.get(LossPlot.OUTPUT);
                s.finish(command);
                LossPlot.write(new org.apache.hadoop.conf.Configuration(), Arrays.asList(runs.split(",")), output);
                System.out.println("wrote " + output);
                return 0;
            }
            default:
                throw new UserError("unknown command '" + command + "'\n" + Help.usage());
        }
    }

    /**
     * A command's configuration from its keys: read and checked, unknown keys refused, then the resolved keys
     * printed (before anything starts, so --check and every run show what they use).
     */
    static <C> C resolve(String command, Settings s, java.util.function.Function<Settings, C> from, PrintStream out) {
        C cfg = from.apply(s);
        s.finish(command);
        out.println(command + ":\n" + s.describe());
        return cfg;
    }

    /** The UserError behind e, also when Spark wrapped one thrown in a task. */
    public static UserError userError(Throwable e) {
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
