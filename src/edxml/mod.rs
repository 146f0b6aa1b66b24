//! The edXML codec (QCVN 102:2016): reads edoc and status packets leniently, writes them
//! strictly in the national SDK's layout. Owns nothing on disk but its staging files.
