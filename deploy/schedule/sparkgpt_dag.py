"""Airflow DAG: resume sparkgpt training hourly, the same job as deploy/submit.

Rerunning resumes from the latest checkpoint in out_dir (init_from=resume); a run that finds
max_steps done exits 0. A non-zero exit fails the task with the reason as the log's last line.
Cluster mode: the driver runs in YARN's ApplicationMaster, not on the scheduler's machine; the config
file travels with --files, and a lost driver is rerun by YARN (second attempt), which resumes.
Needs apache-airflow-providers-apache-spark and a `spark_default` connection to the cluster
(master yarn or spark://host:7077). The conf mirrors deploy/submit's: keep the two in step.
"""
from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

SPARKGPT = "/opt/sparkgpt"
EXECUTORS, CORES = 8, 8
# deploy/submit prints these for the model (params x 4 bytes x (5 + partitions) + 1 GB; partials x 1.5)
DRIVER_MEMORY, MAX_RESULT = "9g", "5764m"  # GPT-2 small (124M) on 8 executors

with DAG(
    dag_id="sparkgpt_books",
    start_date=datetime(2025, 1, 1),
    schedule="@hourly",
    catchup=False,
    max_active_runs=1,  # one training run at a time on the same out_dir
    default_args={"retries": 1, "retry_delay": timedelta(minutes=5)},
) as dag:
    SparkSubmitOperator(
        task_id="train",
        conn_id="spark_default",
        application=f"{SPARKGPT}/driver/target/sparkgpt-submit.jar",
        java_class="sparkgpt.driver.cli.Main",
        deploy_mode="cluster",
        application_args=["train", "books.properties", "--init_from=resume"],
        num_executors=EXECUTORS,
        executor_cores=CORES,
        executor_memory="24g",
        driver_memory=DRIVER_MEMORY,
        files=f"{SPARKGPT}/deploy/gpu-discovery,{SPARKGPT}/conf/books.properties",
        conf={
            "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
            "spark.kryo.registrationRequired": "true",
            "spark.kryo.unsafe": "true",
            "spark.task.maxDirectResultSize": "128m",
            "spark.rpc.message.maxSize": "256",
            "spark.driver.maxResultSize": MAX_RESULT,
            "spark.locality.wait": "0s",
            "spark.scheduler.minRegisteredResourcesRatio": "1.0",
            "spark.speculation": "false",
            "spark.dynamicAllocation.enabled": "false",
            "spark.yarn.maxAppAttempts": "2",  # a lost driver: attempt 2 resumes from out_dir/latest
            "spark.task.maxFailures": "4",
            "spark.broadcast.compress": "false",
            "spark.task.cpus": str(CORES),
            "spark.executor.resource.gpu.amount": "1",
            "spark.task.resource.gpu.amount": "1",
            "spark.executor.resource.gpu.discoveryScript": "./gpu-discovery",
            "spark.executorEnv.POCL_CACHE_DIR": "./sparkgpt-kernel-cache",
            "spark.executorEnv.CUDA_CACHE_PATH": "./sparkgpt-kernel-cache/cuda",
        },
    )
