//! The integration tests: one binary, so the world is linked once. Each module starts
//! what it needs through the same library functions `yima` runs (`yima::app`) on
//! real Postgres and Redis servers, in databases and key prefixes of its own.

mod support;

mod admin;
mod answers;
mod architectures;
mod archive;
mod audit;
mod boosts;
mod cli;
mod cluster;
mod dashboard;
mod diversion;
mod downgrade;
mod drills;
mod forgery;
mod history;
mod lanes;
mod leaderboard;
mod limits;
mod mall;
mod members;
mod openapi;
mod pages;
mod payouts;
mod registry;
mod restore;
mod scan;
mod settle;
mod tasks;
