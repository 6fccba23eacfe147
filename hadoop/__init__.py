"""A real Hadoop test cluster (HDFS with WebHDFS, YARN, MapReduce) from Maven Central: see minicluster.py."""
