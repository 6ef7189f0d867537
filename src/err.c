/* err.c: names for the error codes of err.h. */
#include "err.h"

const char *
tb_err_str(int r)
{
	switch (r) {
	case TB_OK: return "success";
	case TB_ERR_INTERNAL: return "internal error";
	case TB_ERR_ALLOC: return "out of memory";
	case TB_ERR_LIMIT: return "size limit exceeded";
	case TB_ERR_INVALID: return "malformed input";
	case TB_ERR_IO: return "input/output error";
	case TB_ERR_CONFIG: return "bad configuration";
	case TB_ERR_CRYPTO: return "cryptographic operation failed";
	case TB_ERR_NOT_FOUND: return "not found";
	case TB_ERR_METHOD: return "method not allowed";
	case TB_ERR_MEDIA: return "unsupported media type";
	case TB_ERR_TOO_LARGE: return "request body too large";
	case TB_ERR_REQUEST: return "invalid request";
	case TB_ERR_GRANT: return "unsupported grant type";
	case TB_ERR_CLIENT: return "client authentication failed";
	case TB_ERR_SCOPE: return "scope not allowed";
	case TB_ERR_UNAUTHORIZED: return "client not authorized";
	case TB_ERR_DENIED: return "upstream refused";
	case TB_ERR_UNAVAILABLE: return "upstream unavailable";
	case TB_ERR_UPSTREAM: return "unexpected upstream reply";
	case TB_ERR_TARGET: return "audience not allowed";
	}
	return "unknown error";
}
