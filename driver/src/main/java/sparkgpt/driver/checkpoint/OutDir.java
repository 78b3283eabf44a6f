// out_dir holds one run at a time: how a new run starts there (fresh, resumed, over a removed run, or
// refused) and its run.json marker, through the Hadoop FileSystem API (file://, hdfs://, s3a://).
package sparkgpt.driver.checkpoint;

import java.io.IOException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import sparkgpt.driver.config.UserError;
import sparkgpt.worker.io.FormatException;
import sparkgpt.worker.io.Json;

/**
 * A run never destroys another: a run that does not resume (init_from = scratch, a Hugging Face
 * directory or an llm.c file) into an out_dir that already holds a run stops with a message, unless
 * overwrite = true, which first removes exactly the files sparkgpt writes there (a user's own files
 * stay). The one exception is YARN's retry of a failed driver: attempt 2, 3, ... of the application
 * named in {@code run.json} continues what the earlier attempt wrote, as init_from = resume would.
 */
public final class OutDir {
    private OutDir() {}

    static final String RUN = "run.json";
    /** What sparkgpt writes in out_dir: its run is these, nothing else. */
    private static final Pattern OURS = Pattern.compile("latest|latest\\.tmp|step_\\d+|\\.step_\\d+\\.tmp"
            + "|metrics\\.jsonl|\\.metrics\\.jsonl\\.tmp|loss\\.png|run\\.json|run\\.json\\.tmp");
    /** The files whose presence means out_dir holds a run (loss.png alone is only a picture). */
    private static final Pattern RUN_FILES = Pattern.compile(
            "latest|step_\\d+|\\.step_\\d+\\.tmp|metrics\\.jsonl|run\\.json");

    /** How a run begins in out_dir. */
    enum Action {
        FRESH,     // out_dir holds no run
        RESUME,    // init_from = resume: out_dir's latest checkpoint, else from scratch
        RETRY,     // a later attempt of the application that started the run: as RESUME
        OVERWRITE, // overwrite = true: the old run is removed, then as FRESH
        REFUSE     // out_dir holds another run
    }

    /** The decision and, when it resumes, the checkpoint it resumes from (null: none, start from scratch). */
    public record Start(Action action, String checkpoint) {
        boolean resumes() {
            return action == Action.RESUME || action == Action.RETRY;
        }
    }

    /**
     * The rule, as a pure function. runAppId: the application_id in run.json (null: no or unreadable
     * run.json); attemptId: Spark's applicationAttemptId ("1", "2", ... on YARN; null in local mode).
     */
    static Action decide(boolean resume, boolean overwrite, boolean holdsRun, String runAppId, String appId,
                         String attemptId) {
        if (resume) return Action.RESUME;
        if (!holdsRun) return Action.FRESH;
        if (runAppId != null && runAppId.equals(appId) && attemptId != null && !attemptId.equals("1")) return Action.RETRY;
        return overwrite ? Action.OVERWRITE : Action.REFUSE;
    }

    /**
     * How a run with these settings starts in outDir; throws the refusal. Reads only: nothing is
     * removed or written until {@link #begin}, after the run's other checks have passed.
     */
    public static Start start(Configuration conf, String outDir, String initFrom, boolean overwrite, String appId,
                       String attemptId) {
        boolean resume = initFrom.equals("resume");
        List<Path> run = resume ? List.of() : files(conf, outDir, RUN_FILES);
        Action action = decide(resume, overwrite, !run.isEmpty(), run.isEmpty() ? null : applicationId(conf, outDir),
                appId, attemptId);
        String latest = action == Action.FRESH || action == Action.OVERWRITE ? null : Checkpoint.latest(conf, outDir);
        switch (action) {
            case REFUSE -> throw new UserError("out_dir " + outDir + " already holds a run (" + held(conf, outDir, latest)
                    + "): continue it with --init_from=resume, or start over in another out_dir or with --overwrite=true"
                    + " (which removes the old run first)");
            case RESUME -> {
                if (latest == null) {
                    System.out.println("init_from = resume: no checkpoint in " + outDir + ", starting from scratch");
                }
            }
            case RETRY -> System.out.println("attempt " + attemptId + " of " + appId + ": " + (latest != null
                    ? "resuming " + latest + " written by an earlier attempt"
                    : "no checkpoint from an earlier attempt in " + outDir + ", starting from scratch"));
            default -> { }
        }
        return new Start(action, latest);
    }

    /**
     * Just before a run that does not continue a checkpoint writes its first line: removes the old
     * run (overwrite), then writes out_dir/run.json naming this application.
     */
    public static void begin(Configuration conf, String outDir, Start start, String appId) {
        Path out = new Path(outDir);
        try {
            FileSystem fs = Checkpoint.fileSystem(conf, out);
            if (start.action() == Action.OVERWRITE) {
                for (Path p : files(conf, outDir, OURS)) {
                    fs.delete(p, true);
                    System.out.println("overwrite: removed " + p);
                }
            }
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("application_id", appId);
            m.put("started", Instant.now().truncatedTo(ChronoUnit.SECONDS).toString()); // ISO-8601, UTC
            fs.mkdirs(out);
            Checkpoint.replaceText(fs, new Path(out, RUN), Json.writeLines(m));
        } catch (IOException e) {
            throw new UserError("cannot write " + new Path(out, RUN) + ": " + e.getMessage(), e);
        }
    }

    /** "step 40, checkpoint .../step_000040", "step 7 in metrics.jsonl, no checkpoint" or "no checkpoint". */
    private static String held(Configuration conf, String outDir, String latest) {
        if (latest != null) return "step " + Checkpoint.stepOf(new Path(latest)) + ", checkpoint " + latest;
        long step = MetricsLog.lastStep(conf, outDir);
        return step >= 0 ? "step " + step + " in metrics.jsonl, no checkpoint" : "no checkpoint";
    }

    /** The application_id of out_dir/run.json; null when there is none or it cannot be read as one. */
    static String applicationId(Configuration conf, String outDir) {
        Path run = new Path(outDir, RUN);
        try {
            FileSystem fs = Checkpoint.fileSystem(conf, run);
            if (!fs.exists(run)) return null;
            return Json.parse(Checkpoint.readText(fs, run), run.toString()) instanceof Map<?, ?> m
                    && m.get("application_id") instanceof String id ? id : null;
        } catch (FormatException e) {
            return null; // a torn or foreign run.json names no application: no retry, the refusal applies
        } catch (IOException e) {
            throw new UserError("cannot read " + run + ": " + e.getMessage(), e);
        }
    }

    /** The entries of outDir whose names match, by name; none when outDir does not exist. */
    private static List<Path> files(Configuration conf, String outDir, Pattern names) {
        Path out = new Path(outDir);
        try {
            FileSystem fs = Checkpoint.fileSystem(conf, out);
            List<Path> found = new ArrayList<>();
            if (!fs.exists(out)) return found;
            for (FileStatus f : fs.listStatus(out)) {
                if (names.matcher(f.getPath().getName()).matches()) found.add(f.getPath());
            }
            found.sort((a, b) -> a.getName().compareTo(b.getName()));
            return found;
        } catch (IOException e) {
            throw new UserError("cannot read " + out + ": " + e.getMessage(), e);
        }
    }
}
