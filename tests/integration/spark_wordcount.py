"""A pyspark job for the spark framework's test: count the words of a file, print them as
JSON. Run by ``spark-submit --master spark://... spark_wordcount.py FILE``."""

from __future__ import annotations

import json
import sys

from pyspark.sql import SparkSession

path = sys.argv[1]
spark = (
    SparkSession.builder.appName("corral-wordcount")
    .config("spark.driver.host", "127.0.0.1")
    .config("spark.driver.bindAddress", "127.0.0.1")
    .config("spark.executor.memory", "512m")
    .config("spark.cores.max", "1")
    .config("spark.ui.enabled", "false")
    .getOrCreate()
)
try:
    words = spark.sparkContext.textFile(path).flatMap(str.split)
    counts = words.map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b).collect()
    print("COUNTS " + json.dumps(dict(sorted(counts))), flush=True)
finally:
    spark.stop()
