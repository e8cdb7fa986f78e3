-- Runs once, when the Postgres volume is first created.
create database app;        -- the application database (DMS source)
create database warehouse;  -- the Redshift stand-in
create database metabase;   -- Metabase's own metadata
