// Key resolution: defaults < file < command line; unknown keys and bad values fail naming the key.
package sparkgpt.driver.config;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkgpt.driver.cli.Main;
import sparkgpt.driver.data.PrepareConfig;

class SettingsTest {

    @Test
    void fileOverridesDefaultsAndCommandLineOverridesFile(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("x.properties");
        Files.writeString(file, "# a comment\nn_layer = 2\nbatch_size = 16\n");
        Settings s = Settings.parse(List.of(file.toString(), "--batch_size=32"));
        TrainConfig c = TrainConfig.from(s);
        s.finish("train");
        assertEquals(2, c.model().nLayer());
        assertEquals(32, c.data().batchSize());
        assertEquals(128, c.model().nEmbd()); // the default in code
        assertTrue(s.describe().contains("batch_size        = 32   (command line)"), s.describe());
    }

    @Test
    void unknownKeyFailsNamingTheKey() {
        Settings s = Settings.parse(List.of("--n_layers=2"));
        TrainConfig.from(s);
        UserError e = assertThrows(UserError.class, () -> s.finish("train"));
        assertTrue(e.getMessage().startsWith("unknown key 'n_layers' (from command line)"), e.getMessage());
        assertTrue(e.getMessage().contains("n_layer"), e.getMessage());
    }

    @Test
    void aTypoGetsTheNearestKey() {
        Settings s = Settings.parse(List.of("--learning_rat=1e-3"));
        TrainConfig.from(s);
        UserError e = assertThrows(UserError.class, () -> s.finish("train"));
        assertTrue(e.getMessage().startsWith("unknown key 'learning_rat' (from command line) for command 'train':"
                + " did you mean 'learning_rate'?"), e.getMessage());
        // a required key missing because of a typo names the typo, not the missing key
        e = assertThrows(UserError.class, () -> PrepareConfig.from(Settings.parse(List.of("--inptu=x", "--output=y"))));
        assertEquals("unknown key 'inptu' (from command line): did you mean 'input'?", e.getMessage());
        assertNull(Settings.nearest("zzz", List.of("input", "output")));
        assertEquals(1, Settings.editDistance("inptu", "input"));
    }

    @Test
    void badValuesFailNamingKeyAndExpectation() {
        UserError e = assertThrows(UserError.class, () -> TrainConfig.from(Settings.parse(List.of("--n_embd=big"))));
        assertEquals("n_embd = big (from command line): expected an integer", e.getMessage());
        e = assertThrows(UserError.class, () -> TrainConfig.from(Settings.parse(List.of("--shuffle=yes"))));
        assertEquals("shuffle = yes (from command line): expected true or false", e.getMessage());
        e = assertThrows(UserError.class, () -> TrainConfig.from(Settings.parse(List.of("--device=tpu"))));
        assertTrue(e.getMessage().contains("expected one of auto, opencl, cpu"), e.getMessage());
        e = assertThrows(UserError.class, () -> TrainConfig.from(Settings.parse(List.of("--batch_size=0"))));
        assertTrue(e.getMessage().startsWith("batch_size = 0"), e.getMessage());
        e = assertThrows(UserError.class, () -> Settings.parse(List.of("--max_steps")));
        assertTrue(e.getMessage().contains("--key=value"), e.getMessage());
    }

    /**
     * One rule whichever launcher runs train: no file named means conf/default.properties, read from the
     * driver jar (a YARN container has no conf/), under the command line's keys.
     */
    @Test
    void trainWithoutAFileAppliesTheBuiltInDefaultProperties() throws Exception {
        java.util.Properties file = new java.util.Properties(), built = new java.util.Properties();
        try (var r = Files.newBufferedReader(Path.of("..", "conf", "default.properties"));
             var in = getClass().getClassLoader().getResourceAsStream(Main.DEFAULT_TRAIN_CONFIG)) {
            file.load(r);
            built.load(in);
        }
        assertEquals(file, built, "the jar's copy is conf/default.properties");
        Settings s = Settings.parse(List.of("--max_steps=3")).loadDefaults(Main.DEFAULT_TRAIN_CONFIG);
        TrainConfig c = TrainConfig.from(s);
        s.finish("train");
        assertEquals(3, c.schedule().maxSteps());                                               // the command line wins
        assertEquals(Double.parseDouble(file.getProperty("min_lr")), c.schedule().minLr());     // the file over the code's 1e-4
        assertTrue(s.describe().contains("(conf/default.properties, built in: no config file named)"), s.describe());
        assertTrue(s.describe().matches("(?s).*max_steps +\\Q= 3   (command line)\\E.*"), s.describe());
    }

    @Test
    void scheduleFollowsNanoGpt() {
        TrainConfig c = TrainConfig.from(Settings.parse(List.of("--learning_rate=1e-3", "--min_lr=1e-4",
                "--warmup_steps=10", "--max_steps=110")));
        assertEquals(1e-3 * 1 / 11, c.schedule().learningRate(0), 1e-12);        // warmup: lr * (it+1)/(warmup+1)
        assertEquals(1e-3, c.schedule().learningRate(10), 1e-12);                // cosine starts at the peak
        assertEquals(0.55e-3, c.schedule().learningRate(60), 1e-12);             // halfway: (lr + min_lr) / 2
        assertEquals(1e-4, c.schedule().learningRate(110), 1e-12);               // after max_steps: min_lr
    }
}
