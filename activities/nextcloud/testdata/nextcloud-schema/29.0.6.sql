--
-- PostgreSQL database dump
--

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

--
-- Name: oc_appconfig; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.oc_appconfig (
    appid character varying(32) DEFAULT ''::character varying NOT NULL,
    configkey character varying(64) DEFAULT ''::character varying NOT NULL,
    configvalue text,
    type integer DEFAULT 2 NOT NULL,
    lazy smallint DEFAULT 0 NOT NULL
);

--
-- Name: oc_filecache; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.oc_filecache (
    fileid bigint NOT NULL,
    storage bigint DEFAULT 0 NOT NULL,
    path character varying(4000) DEFAULT NULL::character varying,
    path_hash character varying(32) DEFAULT ''::character varying NOT NULL,
    parent bigint DEFAULT 0 NOT NULL,
    name character varying(250) DEFAULT NULL::character varying,
    mimetype bigint DEFAULT 0 NOT NULL,
    mimepart bigint DEFAULT 0 NOT NULL,
    size bigint DEFAULT 0 NOT NULL,
    mtime bigint DEFAULT 0 NOT NULL,
    storage_mtime bigint DEFAULT 0 NOT NULL,
    encrypted integer DEFAULT 0 NOT NULL,
    unencrypted_size bigint DEFAULT 0 NOT NULL,
    etag character varying(40) DEFAULT NULL::character varying,
    permissions integer DEFAULT 0,
    checksum character varying(255) DEFAULT NULL::character varying
);

--
-- Name: oc_filecache_fileid_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.oc_filecache_fileid_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: oc_filecache_fileid_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.oc_filecache_fileid_seq OWNED BY public.oc_filecache.fileid;

--
-- Name: oc_preferences; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.oc_preferences (
    userid character varying(64) DEFAULT ''::character varying NOT NULL,
    appid character varying(32) DEFAULT ''::character varying NOT NULL,
    configkey character varying(64) DEFAULT ''::character varying NOT NULL,
    configvalue text
);

--
-- Name: oc_storages; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.oc_storages (
    numeric_id bigint NOT NULL,
    id character varying(64) DEFAULT NULL::character varying,
    available integer DEFAULT 1 NOT NULL,
    last_checked integer
);

--
-- Name: oc_storages_numeric_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.oc_storages_numeric_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: oc_storages_numeric_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.oc_storages_numeric_id_seq OWNED BY public.oc_storages.numeric_id;

--
-- Name: oc_users; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.oc_users (
    uid character varying(64) DEFAULT ''::character varying NOT NULL,
    displayname character varying(64) DEFAULT NULL::character varying,
    password character varying(255) DEFAULT ''::character varying NOT NULL,
    uid_lower character varying(64) DEFAULT ''::character varying
);

--
-- Name: oc_filecache fileid; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.oc_filecache ALTER COLUMN fileid SET DEFAULT nextval('public.oc_filecache_fileid_seq'::regclass);

--
-- Name: oc_storages numeric_id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.oc_storages ALTER COLUMN numeric_id SET DEFAULT nextval('public.oc_storages_numeric_id_seq'::regclass);

--
-- Name: oc_appconfig oc_appconfig_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.oc_appconfig
    ADD CONSTRAINT oc_appconfig_pkey PRIMARY KEY (appid, configkey);

--
-- Name: oc_filecache oc_filecache_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.oc_filecache
    ADD CONSTRAINT oc_filecache_pkey PRIMARY KEY (fileid);

--
-- Name: oc_preferences oc_preferences_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.oc_preferences
    ADD CONSTRAINT oc_preferences_pkey PRIMARY KEY (userid, appid, configkey);

--
-- Name: oc_storages oc_storages_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.oc_storages
    ADD CONSTRAINT oc_storages_pkey PRIMARY KEY (numeric_id);

--
-- Name: oc_users oc_users_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.oc_users
    ADD CONSTRAINT oc_users_pkey PRIMARY KEY (uid);

--
-- Name: ac_lazy_i; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ac_lazy_i ON public.oc_appconfig USING btree (lazy);

--
-- Name: fs_id_storage_size; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX fs_id_storage_size ON public.oc_filecache USING btree (fileid, storage, size);

--
-- Name: fs_mtime; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX fs_mtime ON public.oc_filecache USING btree (mtime);

--
-- Name: fs_parent; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX fs_parent ON public.oc_filecache USING btree (parent);

--
-- Name: fs_parent_name_hash; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX fs_parent_name_hash ON public.oc_filecache USING btree (parent, name);

--
-- Name: fs_size; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX fs_size ON public.oc_filecache USING btree (size);

--
-- Name: fs_storage_mimepart; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX fs_storage_mimepart ON public.oc_filecache USING btree (storage, mimepart);

--
-- Name: fs_storage_mimetype; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX fs_storage_mimetype ON public.oc_filecache USING btree (storage, mimetype);

--
-- Name: fs_storage_path_hash; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX fs_storage_path_hash ON public.oc_filecache USING btree (storage, path_hash);

--
-- Name: fs_storage_size; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX fs_storage_size ON public.oc_filecache USING btree (storage, size, fileid);

--
-- Name: preferences_app_key; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX preferences_app_key ON public.oc_preferences USING btree (appid, configkey);

--
-- Name: storages_id_index; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX storages_id_index ON public.oc_storages USING btree (id);

--
-- Name: user_uid_lower; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX user_uid_lower ON public.oc_users USING btree (uid_lower);

--
-- PostgreSQL database dump complete
--

