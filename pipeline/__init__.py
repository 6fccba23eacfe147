"""The library: datasets, S3, Avro and the warehouse filesystem. No Luigi task lives here."""
