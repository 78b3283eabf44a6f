// sparkgpt on a real YARN and HDFS (Hadoop's mini clusters in this JVM), submitted through deploy/submit
// as a user does, without a Spark installation: cluster and client mode, a lost driver, a lost
// executor, a lost DataNode, and bad input. Every run must equal a local-mode run of the same keys.
package sparkgpt.driver.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import sparkgpt.driver.checkpoint.Checkpoint;
import sparkgpt.driver.config.Settings;
import sparkgpt.driver.config.TrainConfig;
import sparkgpt.driver.testing.MiniHadoop;
import sparkgpt.driver.testing.TestData;
import sparkgpt.driver.train.SparkSetup;
import sparkgpt.driver.train.Trainer;

@Tag("yarn")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class YarnIT {
    static final Path HOME = Path.of(System.getProperty("sparkgpt.home", "..")).toAbsolutePath().normalize();
    static final int STEPS = 30;
    static final Pattern LOSS = Pattern.compile("\"step\": *(\\d+), *\"loss\": *([0-9.eE+-]+)");

    @TempDir
    static Path tmp;
    static MiniHadoop hadoop;
    static String hdfs;
    static Configuration conf;
    /** The same keys in local mode: losses of steps 1..STEPS and checkpoints every 5 steps. */
    static Trainer.Result local;
    static String localOut;
    /** SPARKGPT_YARN_JARS for the runs after the first (null: deploy/submit's default, an upload per application). */
    static String yarnJars;

    @BeforeAll
    static void start() throws Exception {
        long t0 = System.nanoTime();
        hadoop = MiniHadoop.start(tmp.resolve("hadoop"));
        hdfs = hadoop.hdfs();
        conf = hadoop.clientConf();
        System.out.printf("YarnIT: HDFS (2 DataNodes) and YARN up in %.1f s at %s%n", (System.nanoTime() - t0) / 1e9, hdfs);
        // a text corpus on HDFS, and the local-mode reference trained on what `prepare` makes of it (below)
        try (OutputStream out = FileSystem.get(conf).create(new org.apache.hadoop.fs.Path(hdfs + "/in/corpus.txt"))) {
            out.write(corpus(60_000).getBytes(StandardCharsets.UTF_8));
        }
    }

    @AfterAll
    static void stop() {
        if (hadoop != null) hadoop.close();
    }

    /** Sentences of TestData's text shuffled with a fixed seed: something to learn, not one repeated line. */
    static String corpus(int chars) {
        String[] words = TestData.TEXT.split(" ");
        Random r = new Random(7);
        StringBuilder sb = new StringBuilder();
        while (sb.length() < chars) {
            int n = 5 + r.nextInt(10);
            for (int i = 0; i < n; i++) sb.append(words[r.nextInt(words.length)]).append(i + 1 < n ? " " : ".\n");
        }
        return sb.toString();
    }

    /** The train keys of every run here (no file named: conf/default.properties applies, as in local mode). */
    static List<String> trainKeys(String data, String outDir, int maxSteps) {
        return List.of("--data=" + data, "--out_dir=" + outDir, "--n_layer=2", "--n_head=2", "--n_embd=32",
                "--block_size=16", "--batch_size=8", "--micro_batch_size=2", "--partitions=2", "--learning_rate=3e-3",
                "--warmup_steps=2", "--lr_decay_steps=" + STEPS, "--eval_interval=0", "--eval_batches=2", "--ckpt_interval=5",
                "--keep_checkpoints=0", "--seed=11", "--device=cpu", "--max_steps=" + maxSteps);
    }

    static final List<String> CLUSTER = List.of("--master=yarn", "--deploy-mode=cluster", "--num-executors=2",
            "--executor-cores=1", "--executor-memory=1g", "--driver-memory=1g");
    static final List<String> CLIENT = List.of("--master=yarn", "--deploy-mode=client", "--num-executors=2",
            "--executor-cores=1", "--executor-memory=1g", "--driver-memory=1g");

    @Test
    @Order(1)
    void clusterModePrepareTrainAndResumeEqualLocalMode() throws Exception {
        Run prepare = submit(CLUSTER, "prepare", List.of("--input=" + hdfs + "/in/corpus.txt", "--output=" + hdfs + "/data",
                "--tokenizer=byte"));
        prepare.assertSucceeded();
        trainLocalReference();

        String out = hdfs + "/out/cluster";
        Run first = submit(CLUSTER, "train", trainKeys(hdfs + "/data", out, 5));
        first.assertSucceeded();
        Run resumed = submit(CLUSTER, "train", concat(trainKeys(hdfs + "/data", out, 10), "--init_from=resume"));
        resumed.assertSucceeded();

        assertLossesEqualLocal(out, 10);
        assertWeightsEqualLocal(out + "/step_000005", 5);
        assertWeightsEqualLocal(out + "/step_000010", 10);
        System.out.printf("YarnIT: cluster mode, Spark's jars uploaded with each application: prepare %.0f s,"
                + " train %.0f s, resume %.0f s%n", prepare.seconds, first.seconds, resumed.seconds);
    }

    /**
     * The runs below take Spark's jars from HDFS, as a cluster that runs sparkgpt often would
     * (SPARKGPT_YARN_JARS=hdfs:///...): copied once here, then localized by the NodeManager.
     */
    static void stageJarsOnHdfs() throws IOException {
        if (yarnJars != null) return;
        FileSystem fs = FileSystem.get(conf);
        org.apache.hadoop.fs.Path dir = new org.apache.hadoop.fs.Path(hdfs + "/apps/sparkgpt/lib");
        try (var jars = Files.list(HOME.resolve("driver/target/lib"))) {
            for (Path jar : jars.filter(p -> p.toString().endsWith(".jar")).toList()) {
                fs.copyFromLocalFile(new org.apache.hadoop.fs.Path(jar.toUri()), new org.apache.hadoop.fs.Path(dir, jar.getFileName().toString()));
            }
        }
        yarnJars = dir + "/*.jar";
    }

    @Test
    @Order(2)
    void badInputFailsWithItsReasonOnTheLastLine() throws Exception {
        stageJarsOnHdfs();
        // a mistyped key: refused by deploy/submit's check, before anything reaches YARN
        Run typo = submit(CLUSTER, "train", List.of("--learning_rat=1e-3"));
        assertEquals(2, typo.exit, typo.output);
        assertTrue(typo.lastLine().contains("unknown key 'learning_rat'"), typo.lastLine());
        assertFalse(typo.output.contains("application_"), "nothing was submitted");

        // found by the driver on YARN: the application ends FAILED, the reason is submit's last line
        Run missing = submit(CLUSTER, "prepare", List.of("--input=" + hdfs + "/in/nope.txt", "--output=" + hdfs + "/nope",
                "--tokenizer=byte"));
        assertNotEquals(0, missing.exit, missing.output);
        assertTrue(missing.lastLine().contains("final status: FAILED"), missing.lastLine());
        assertTrue(missing.lastLine().contains("nope.txt"), missing.lastLine());
    }

    @Test
    @Order(3)
    void aKilledDriverIsResumedByYarnsSecondAttempt() throws Exception {
        stageJarsOnHdfs();
        String out = hdfs + "/out/am-killed";
        Run run = start(CLUSTER, "train", trainKeys(hdfs + "/data", out, STEPS));
        int at = waitForStep(run, out, 12);
        String app = run.applicationId();
        long pid = onlyProcess("org.apache.spark.deploy.yarn.ApplicationMaster", app);
        String memory = String.format("RSS %d MB; executors' RSS %s MB", rssMb(pid),
                processes("YarnCoarseGrainedExecutorBackend", app).stream().map(YarnIT::rssMb).toList());
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        System.out.printf("YarnIT: killed the ApplicationMaster (pid %d, %s) of %s at step %d%n", pid, memory, app, at);
        run.finish();
        run.assertSucceeded();
        String attempt2 = containerLog(app, "_02_000001", "stdout");
        assertTrue(attempt2.contains("written by an earlier attempt"), attempt2);
        assertFalse(attempt2.contains("step 1/" + STEPS + ":"), "the second attempt started over:\n" + attempt2);
        assertLossesEqualLocal(out, STEPS);
        assertWeightsEqualLocal(out + "/step_0000" + STEPS, STEPS);
    }

    @Test
    @Order(4)
    void clientModeSurvivesALostExecutorAndALostDataNode() throws Exception {
        stageJarsOnHdfs();
        String out = hdfs + "/out/client";
        Run run = start(CLIENT, "train", trainKeys(hdfs + "/data", out, STEPS));
        int killedAt = waitForStep(run, out, 8);
        String app = run.applicationId();
        List<Long> executors = processes("YarnCoarseGrainedExecutorBackend", app);
        assertEquals(2, executors.size(), "executors of " + app);
        ProcessHandle.of(executors.get(0)).ifPresent(ProcessHandle::destroyForcibly);
        int lostAt = waitForStep(run, out, 16);
        MiniDFSCluster.DataNodeProperties dataNode = hadoop.dfs.stopDataNode(1);
        System.out.printf("YarnIT: killed executor pid %d at step %d, stopped DataNode 1 at step %d%n",
                executors.get(0), killedAt, lostAt);
        try {
            run.finish();
            run.assertSucceeded();
            assertTrue(lostAt < STEPS, "the DataNode was lost before the run ended");
            assertLossesEqualLocal(out, STEPS);
            // every checkpoint the run wrote is complete and loads, those after the DataNode's loss included
            for (int step = 5; step <= STEPS; step += 5) {
                Checkpoint.Loaded c = Checkpoint.load(conf, out + String.format("/step_%06d", step));
                assertEquals(step, c.state().step());
            }
            assertWeightsEqualLocal(out + "/step_0000" + STEPS, STEPS);
        } finally {
            hadoop.dfs.restartDataNode(dataNode, true);
        }
    }

    // ---- the local-mode reference ----

    static void trainLocalReference() {
        localOut = tmp.resolve("local-out").toUri().toString(); // file://: HDFS is the default file system here
        Settings s = Settings.parse(trainKeys(hdfs + "/data", localOut, STEPS)).loadDefaults(Main.DEFAULT_TRAIN_CONFIG);
        TrainConfig cfg = TrainConfig.from(s);
        s.finish("train");
        try (JavaSparkContext sc = SparkSetup.context("local[2]", "YarnIT-local", Map.of())) {
            local = Trainer.train(sc, cfg);
        }
        assertEquals(STEPS, local.losses().size());
    }

    static void assertLossesEqualLocal(String outDir, int steps) throws IOException {
        Map<Integer, Double> yarn = new java.util.TreeMap<>();
        for (String line : read(outDir + "/metrics.jsonl").split("\n")) {
            Matcher m = LOSS.matcher(line);
            if (m.find()) assertNull(yarn.put(Integer.parseInt(m.group(1)), Double.parseDouble(m.group(2))), "step twice: " + line);
        }
        assertEquals(steps, yarn.size(), "steps in " + outDir + "/metrics.jsonl");
        for (int step = 1; step <= steps; step++) {
            // metrics.jsonl prints 6 decimals
            assertEquals(local.losses().get(step - 1), yarn.get(step), 1e-5, "loss of step " + step);
        }
    }

    static void assertWeightsEqualLocal(String checkpoint, int step) {
        float[] expected = Checkpoint.readModel(conf, localOut + String.format("/step_%06d", step)).params();
        float[] actual = Checkpoint.readModel(conf, checkpoint).params();
        assertArrayEquals(expected, actual, checkpoint + " against local mode's step " + step);
    }

    // ---- submitting and watching ----

    static final class Run {
        final Process process;
        final Path log;
        final long t0 = System.nanoTime();
        int exit = -1;
        String output = "";
        double seconds;

        Run(Process process, Path log) {
            this.process = process;
            this.log = log;
        }

        Run finish() throws Exception {
            if (!process.waitFor(480, TimeUnit.SECONDS)) {
                process.descendants().forEach(ProcessHandle::destroyForcibly);
                process.destroyForcibly();
                fail("deploy/submit did not finish in 480 s:\n" + Files.readString(log));
            }
            exit = process.exitValue();
            seconds = (System.nanoTime() - t0) / 1e9;
            output = Files.readString(log);
            return this;
        }

        String lastLine() {
            String[] lines = output.strip().split("\n");
            return lines[lines.length - 1];
        }

        String applicationId() throws IOException {
            Matcher m = Pattern.compile("application_\\d+_\\d+").matcher(Files.readString(log));
            assertTrue(m.find(), "no application id in the submit's output yet");
            return m.group();
        }

        /** Cluster mode: exit 0 and YARN's final status last; client mode: the driver's own exit 0. */
        void assertSucceeded() {
            assertEquals(0, exit, output);
            assertTrue(output.contains("application_"), "no YARN application in:\n" + output);
            if (output.contains("--deploy-mode cluster")) assertTrue(lastLine().contains("final status: SUCCEEDED"), lastLine());
        }
    }

    static Run submit(List<String> options, String command, List<String> args) throws Exception {
        return start(options, command, args).finish();
    }

    /** deploy/submit OPTIONS -- COMMAND ARGS, as a user runs it: no SPARK_HOME, HADOOP_CONF_DIR set. */
    static Run start(List<String> options, String command, List<String> args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(HOME.resolve("deploy/submit").toString());
        cmd.addAll(options);
        cmd.add("--");
        cmd.add(command);
        cmd.addAll(args);
        Path log = Files.createTempFile(tmp, "submit-", ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(HOME.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        pb.environment().remove("SPARK_HOME");
        pb.environment().remove("SPARK_CONF_DIR");
        pb.environment().put("HADOOP_CONF_DIR", hadoop.confDir.toString());
        if (yarnJars != null) pb.environment().put("SPARKGPT_YARN_JARS", yarnJars);
        return new Run(pb.start(), log);
    }

    /** Waits until out_dir/metrics.jsonl has logged at least this step; returns the step seen. */
    static int waitForStep(Run run, String outDir, int step) throws Exception {
        long deadline = System.nanoTime() + 300_000_000_000L;
        while (System.nanoTime() < deadline) {
            assertTrue(run.process.isAlive(), () -> "the run ended before step " + step + ":\n" + readQuietly(run.log));
            int last = 0;
            try {
                Matcher m = LOSS.matcher(read(outDir + "/metrics.jsonl"));
                while (m.find()) last = Integer.parseInt(m.group(1));
            } catch (IOException notYet) {
                // not written yet
            }
            if (last >= step) return last;
            Thread.sleep(50);
        }
        throw new AssertionError("step " + step + " not reached in 300 s:\n" + readQuietly(run.log));
    }

    /** A process's resident set, for the memory figures in deploy/README.md; -1 once it is gone. */
    static long rssMb(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", String.valueOf(pid), "status"))) {
                if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
            }
        } catch (IOException | NumberFormatException gone) {
            // ended meanwhile
        }
        return -1;
    }

    static List<Long> processes(String mainClass, String app) {
        return ProcessHandle.allProcesses()
                .filter(p -> p.info().command().map(c -> c.endsWith("/java")).orElse(false)) // not the launch scripts
                .filter(p -> p.info().commandLine().map(c -> c.contains(mainClass) && c.contains(app)).orElse(false))
                .map(ProcessHandle::pid).sorted().collect(Collectors.toList());
    }

    static long onlyProcess(String mainClass, String app) {
        List<Long> found = processes(mainClass, app);
        assertEquals(1, found.size(), mainClass + " of " + app + ": " + found);
        return found.get(0);
    }

    /** A container's log file; the container id ends in _ATTEMPT_NUMBER (e.g. _02_000001: attempt 2's AM). */
    static String containerLog(String app, String containerSuffix, String file) throws IOException {
        Path appDir = hadoop.containerLogs().resolve(app);
        try (var dirs = Files.list(appDir)) {
            Optional<Path> c = dirs.filter(d -> d.getFileName().toString().endsWith(containerSuffix)).findFirst();
            assertTrue(c.isPresent(), "no container *" + containerSuffix + " in " + appDir);
            return Files.readString(c.get().resolve(file));
        }
    }

    static String read(String path) throws IOException {
        org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(path);
        try (var in = p.getFileSystem(conf).open(p)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    static String readQuietly(Path log) {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(" + e + ")";
        }
    }

    static List<String> concat(List<String> a, String... more) {
        List<String> all = new ArrayList<>(a);
        all.addAll(Arrays.asList(more));
        return all;
    }
}
