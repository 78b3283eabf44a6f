// A real HDFS and YARN in this JVM (Hadoop's own MiniDFSCluster and MiniYARNCluster), and the
// HADOOP_CONF_DIR a client outside this JVM (deploy/submit, spark-submit) uses to reach them.
package sparkgpt.driver.testing;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.MiniYARNCluster;

/**
 * Two DataNodes (replication 2, so one can be lost mid-run) and one NodeManager big enough for an
 * ApplicationMaster, two 1 GB executors and a second attempt's AM. The settings are those that made
 * YARN schedule on one small machine: no disk-health checker (a busy disk marks the only NodeManager
 * unhealthy), no memory checks, the capacity scheduler's default queue set here (the shaded jar has
 * no capacity-scheduler.xml, as Spark's BaseYarnClusterSuite also sets it), and JAVA_HOME for the
 * containers from the NodeManager's admin environment.
 */
public final class MiniHadoop implements AutoCloseable {
    public final MiniDFSCluster dfs;
    final MiniYARNCluster yarn;
    /** core-site.xml, hdfs-site.xml and yarn-site.xml for clients. */
    public final Path confDir;

    private MiniHadoop(MiniDFSCluster dfs, MiniYARNCluster yarn, Path confDir) {
        this.dfs = dfs;
        this.yarn = yarn;
        this.confDir = confDir;
    }

    public static MiniHadoop start(Path base) throws Exception {
        Configuration conf = new YarnConfiguration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, base.resolve("dfs").toString());
        conf.setInt("dfs.replication", 2);
        // a stopped DataNode is declared dead after ~10 s, not Hadoop's default 10.5 minutes
        conf.setInt("dfs.heartbeat.interval", 1);
        conf.setInt("dfs.namenode.heartbeat.recheck-interval", 5000);
        MiniDFSCluster dfs = new MiniDFSCluster.Builder(conf).numDataNodes(2).build();
        dfs.waitActive();

        conf.set("yarn.nodemanager.resource.memory-mb", "8192");
        conf.set("yarn.minicluster.yarn.nodemanager.resource.memory-mb", "8192"); // MiniYARNCluster's own key (4096)
        conf.set("yarn.nodemanager.resource.cpu-vcores", "8");
        conf.set("yarn.scheduler.minimum-allocation-mb", "256");
        conf.set("yarn.nodemanager.pmem-check-enabled", "false");
        conf.set("yarn.nodemanager.vmem-check-enabled", "false");
        conf.set("yarn.nodemanager.disk-health-checker.enable", "false");
        conf.set("yarn.nodemanager.admin-env", "JAVA_HOME=" + System.getProperty("java.home"));
        conf.set("yarn.resourcemanager.am.max-attempts", "2");
        conf.set("yarn.scheduler.capacity.root.queues", "default");
        conf.set("yarn.scheduler.capacity.root.default.capacity", "100");
        conf.set("yarn.scheduler.capacity.root.default.maximum-capacity", "100");
        conf.set("yarn.scheduler.capacity.root.default.state", "RUNNING");
        conf.set("yarn.scheduler.capacity.root.default.acl_submit_applications", "*");
        conf.set("yarn.scheduler.capacity.root.default.acl_administer_queue", "*");
        conf.set("yarn.scheduler.capacity.maximum-am-resource-percent", "1.0");
        MiniYARNCluster yarn = new MiniYARNCluster("sparkgpt-yarn", 1, 1, 1);
        yarn.init(conf);
        yarn.start();
        // start() can return before the ResourceManager's port is known
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (yarn.getConfig().get(YarnConfiguration.RM_ADDRESS, ":0").endsWith(":0")) {
            if (System.nanoTime() > deadline) throw new IllegalStateException("the ResourceManager did not bind a port");
            Thread.sleep(100);
        }

        Path confDir = Files.createDirectories(base.resolve("hadoop-conf"));
        Configuration client = new Configuration(false);
        for (Map.Entry<String, String> e : yarn.getConfig()) client.set(e.getKey(), e.getValue());
        client.set("fs.defaultFS", dfs.getFileSystem().getUri().toString());
        // MiniDFSCluster's StaticMapping exists only in the minicluster jar, which a client does not have
        client.set("net.topology.node.switch.mapping.impl", "org.apache.hadoop.net.ScriptBasedMapping");
        for (String name : new String[] {"core-site.xml", "hdfs-site.xml", "yarn-site.xml"}) {
            try (OutputStream out = Files.newOutputStream(confDir.resolve(name))) {
                client.writeXml(out);
            }
        }
        return new MiniHadoop(dfs, yarn, confDir);
    }

    /** hdfs://host:port */
    public String hdfs() throws IOException {
        return dfs.getFileSystem().getUri().toString();
    }

    /** The client configuration written to confDir, for reading HDFS from this JVM. */
    public Configuration clientConf() {
        Configuration c = new Configuration(false);
        for (String name : new String[] {"core-site.xml", "hdfs-site.xml", "yarn-site.xml"}) {
            c.addResource(new org.apache.hadoop.fs.Path(confDir.resolve(name).toUri()));
        }
        return c;
    }

    /** The NodeManager's log directory: application_*\/container_*\/{stdout,stderr}. */
    public Path containerLogs() {
        return Path.of(yarn.getNodeManager(0).getConfig().get(YarnConfiguration.NM_LOG_DIRS).split(",")[0]);
    }

    @Override
    public void close() {
        yarn.stop();
        dfs.shutdown();
    }
}
