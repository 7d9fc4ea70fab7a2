"""Event schemas, Kafka topics, the producer and the Faust app with its agents."""
