"""Domain core of the listening-behaviour latent space: plain functions, no Dagster."""
