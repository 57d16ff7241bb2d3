#ifndef MUSTER_CLIBPQ_SHIM_H
#define MUSTER_CLIBPQ_SHIM_H

#include <libpq-fe.h>
#include <poll.h>

/* The PG_DIAG_* macros are char literals, which Swift does not import. */
static const int muster_diag_sqlstate = PG_DIAG_SQLSTATE;
static const int muster_diag_severity = PG_DIAG_SEVERITY_NONLOCALIZED;
static const int muster_diag_message_primary = PG_DIAG_MESSAGE_PRIMARY;
static const int muster_diag_message_detail = PG_DIAG_MESSAGE_DETAIL;
static const int muster_diag_message_hint = PG_DIAG_MESSAGE_HINT;
static const int muster_diag_statement_position = PG_DIAG_STATEMENT_POSITION;
static const int muster_diag_constraint_name = PG_DIAG_CONSTRAINT_NAME;
static const int muster_diag_schema_name = PG_DIAG_SCHEMA_NAME;
static const int muster_diag_table_name = PG_DIAG_TABLE_NAME;

#endif
